//! Starting against a database whose ClickHouse consumer groups are active and have never
//! committed: its Kafka tables exist and their consumers joined before anything positioned
//! the groups (a database made by hand or by a pipeline from before positioning, or whose
//! offsets the broker expired). `schema apply` and `up` must start all the same, and nothing
//! produced before ClickHouse's consumers first commit may be skipped: 18.16 starts a new
//! group at the end of each partition, so the events already on the topics are not read by
//! the engine; `up`'s verifier replays them once the engine commits past them.
//!
//! Kafka refuses a commit from outside a group with live members (UNKNOWN_MEMBER_ID), which
//! is what made such a start fail; tansu 0.6.0 takes it whatever the group's state, so
//! here the refusal itself cannot happen (the publish crate's unit test has it from
//! librdkafka's mock cluster). What this test holds is the rest: the starts succeed, and
//! every event, before and after, is consumed exactly once.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::TestEnv;

/// Rows per Kafka block on 18.16 as `up --no-generate` sizes them (half a second at 2,000
/// events/s), so that `up` renders the Kafka tables exactly as the first start made them and
/// re-creates nothing (a re-created table's consumer would join again and read the
/// committed offsets).
const BLOCK_18_16: u32 = 1000;

/// `pipeline up --no-generate` on its own port; stopped with SIGTERM when dropped.
struct Up {
    child: Child,
    log: std::path::PathBuf,
}

impl Up {
    async fn start(env: &TestEnv) -> Up {
        let listen = format!("127.0.0.1:{}", common::free_port());
        let log_path = std::env::temp_dir().join(format!("{}-up.log", env.database));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(env.pipeline_args())
            .args(["up", "--no-generate", "--listen", &listen])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pipeline up starts");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "pipeline up exited: {status} (log: {}-up.log in the temp dir)",
                    env.database
                );
            }
            if reqwest::get(format!("http://{listen}/favicon.ico"))
                .await
                .is_ok()
            {
                return Up {
                    child,
                    log: log_path,
                };
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "pipeline up did not answer within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed offset of every partition of `topic` for ClickHouse's group.
async fn committed(env: &TestEnv, topic: &str) -> Vec<Option<i64>> {
    let (kafka, group, topic) = (
        env.kafka.clone(),
        format!("clickhouse_{}_{topic}", env.database),
        topic.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        kafka_admin::group_partitions(&kafka, &group, &topic, Duration::from_secs(10))
            .unwrap()
            .iter()
            .map(|p| p.committed)
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_against_an_active_group_that_never_committed_and_skips_nothing() {
    let env = TestEnv::new("active_group").await;
    let topics = [env.sales_topic.clone(), env.warehouse_topic.clone()];
    // Events on the topics before ClickHouse's consumers join.
    let before = 600;
    common::generate_seeded(&env, 1, before, &[]);

    // The first start, without positioning: the Kafka tables, made as `up` would make them.
    let mut schema = schema::SchemaConfig::new(&env.database, &env.kafka.brokers);
    schema.sales_topic = env.sales_topic.clone();
    schema.warehouse_topic = env.warehouse_topic.clone();
    schema.unflushed_block_size = Some(BLOCK_18_16);
    schema::apply(&env.root(), &schema)
        .await
        .expect("the first start makes the schema");
    // The consumers are in their groups and commit nothing: 18.16 started them at the end,
    // and nothing comes after. (No condition tells a consumer's join from outside here:
    // tansu 0.6 cannot describe a group; the audit below shows the engine read none of it.)
    for topic in &topics {
        let c = committed(&env, topic).await;
        assert!(c.iter().all(Option::is_none), "{topic}: committed {c:?}");
    }

    // The second start, `up`: positions the groups (the step that failed), applies the
    // schema, and runs its verifier and rescue. Then events after it.
    let up = Up::start(&env).await;
    let log = std::fs::read_to_string(&up.log).unwrap();
    assert!(
        log.contains("0 migration(s) applied, 0 ingest object(s) created"),
        "the Kafka tables were re-created, so their consumers joined again: {log}"
    );
    let after = 900;
    common::generate_seeded(&env, 2, after, &[]);

    // Everything consumed once: nothing pending, nothing missing, every event landed.
    let audit = common::settled_audit(
        || common::pipeline(&env, &["audit", "--json", "--wait", "30s"]),
        Duration::from_secs(240),
    );
    drop(up);
    // How they came (diagnostic): on 18.16 the engine's rows have no partition (-1), the
    // verifier's replays carry theirs.
    #[derive(serde::Deserialize)]
    struct Origin {
        replayed: u64,
        engine: u64,
    }
    for table in ["sales", "stock_movements"] {
        let origin: Origin = env
            .clickhouse
            .query_one(&format!(
                "SELECT countIf(kafka_partition >= 0) AS replayed, countIf(kafka_partition < 0) AS engine FROM {}.{table}",
                env.database
            ))
            .await
            .unwrap();
        println!(
            "{table}: {} rows replayed by the verifier, {} written by the engine",
            origin.replayed, origin.engine
        );
    }
    let per_topic = |key: &str| -> u64 {
        audit["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(per_topic("produced"), before + after, "{audit}");
    assert_eq!(per_topic("consumed"), before + after, "{audit}");
    assert_eq!(per_topic("unique"), before + after, "{audit}");
    assert_eq!(audit["missing"], Value::from(0), "{audit}");
    env.drop_database().await;
}
