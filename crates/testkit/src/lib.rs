//! What every integration test stands on: the real services (started by `scripts/services`),
//! and a database and topics of its own, named uniquely so tests run in parallel and re-run.
//! A service that does not answer fails the test with a message saying how to start it.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clickhouse_http::Client;
use kafka_admin::KafkaSettings;

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
            kafka_admin::fetch_topics(&probe, &[], Duration::from_secs(5))
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

/// A test that panics does not reach its `drop_database`: its Kafka tables would go on
/// consuming, and failing, for the rest of the run. Drop them with it.
impl Drop for TestEnv {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let (root, sql) = (
            self.root(),
            format!("DROP DATABASE IF EXISTS {}", self.database),
        );
        // Its own thread and runtime: this may run on a runtime's worker, which cannot block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let _ = rt.block_on(root.execute(&sql));
            Ok::<_, std::io::Error>(())
        })
        .join();
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

/// Runs `tests/modern_clickhouse/<script>` with `args` and `stdin` piped in, under chDB's
/// Python (`$CHDB_PYTHON`, which `scripts/test` sets; else `python3`); its output (stdout
/// and stderr are also printed, shown with --nocapture or on failure). Panics, saying how
/// to install chDB, when the script cannot start or chDB is not importable.
pub fn modern_clickhouse(
    script: &str,
    args: &[&std::ffi::OsStr],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let python = std::env::var("CHDB_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python)
        .args(["-c", "import chdb"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the Python interpreter {python:?} (set CHDB_PYTHON): {e}")
        });
    assert!(
        probe.status.success(),
        "chdb is not importable by {python:?}: {}\n\
         Run `scripts/test` (it installs chDB into a venv and sets CHDB_PYTHON), or \
         `pip install -r tests/modern_clickhouse/requirements.txt` for that interpreter.",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/modern_clickhouse")
        .join(script);
    let mut child = Command::new(&python)
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", path.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .expect("write to the script");
    let out = child.wait_with_output().expect("wait for the script");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}
