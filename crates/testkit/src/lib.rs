//! What every integration test stands on: the real services (started by `scripts/services`),
//! and a database and topics of its own, named uniquely so tests run in parallel and re-run.
//! A service that does not answer fails the test with a message saying how to start it.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clickhouse_http::Client;
use publish::KafkaSettings;

pub const HOW_TO_START: &str =
    "start the services with `scripts/services start` (the test command `scripts/test` does it)";

pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A name no other test, and no earlier run, uses: `t_<what>_<pid>_<n>_<millis>`.
pub fn unique_name(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!(
        "t_{what}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        ms % 100_000_000
    )
}

/// One test's own corner of the services.
pub struct TestEnv {
    pub database: String,
    pub sales_topic: String,
    pub warehouse_topic: String,
    pub clickhouse: Client,
    pub kafka: KafkaSettings,
}

impl TestEnv {
    /// Checks that both services answer (panicking with how to start them if not) and picks
    /// fresh names. Nothing is created yet: the code under test does that.
    pub async fn new(what: &str) -> TestEnv {
        let base = unique_name(what);
        let url = clickhouse_url();
        let root = Client::new(&url);
        if let Err(e) = root.ping().await {
            panic!("ClickHouse at {url} does not answer ({e}): {HOW_TO_START}");
        }
        let kafka = KafkaSettings::new(kafka_brokers());
        let probe = kafka.clone();
        let answered = tokio::task::spawn_blocking(move || {
            publish::fetch_topics(&probe, &[], Duration::from_secs(5))
        })
        .await
        .expect("metadata task");
        if let Err(e) = answered {
            panic!(
                "the Kafka broker at {} does not answer ({e}): {HOW_TO_START}",
                kafka.brokers
            );
        }
        TestEnv {
            clickhouse: root.with_database(&base),
            sales_topic: format!("{base}_sales"),
            warehouse_topic: format!("{base}_warehouse"),
            database: base,
            kafka,
        }
    }

    /// The flags that point `pipeline` at this test's database and topics.
    pub fn pipeline_args(&self) -> Vec<String> {
        vec![
            "--kafka-brokers".into(),
            self.kafka.brokers.clone(),
            "--clickhouse-url".into(),
            clickhouse_url(),
            "--database".into(),
            self.database.clone(),
            "--sales-topic".into(),
            self.sales_topic.clone(),
            "--warehouse-topic".into(),
            self.warehouse_topic.clone(),
        ]
    }

    /// A client with no default database (for creating it).
    pub fn root(&self) -> Client {
        self.clickhouse.clone().with_database("system")
    }

    /// Drops the test's database. Topics stay: deleting one topic on tansu 0.6 deletes all.
    pub async fn drop_database(&self) {
        let _ = self
            .root()
            .execute(&format!("DROP DATABASE IF EXISTS {}", self.database))
            .await;
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
