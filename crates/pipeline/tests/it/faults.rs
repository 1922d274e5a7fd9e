//! Faults while events flow at 1,000/s, against a broker and a ClickHouse server of this
//! test's own (started by `scripts/services` with their own ports and data dir, so killing
//! them disturbs no other test): kill -9 of ClickHouse, kill -9 of the broker, a generator
//! killed mid-batch, and `pipeline up` killed and started again. After each, once the flow
//! stops, `pipeline audit` finds nothing missing and the dashboard's figures equal what the
//! broker holds, exactly.
//!
//! The scenarios share the services, so they run one after another in one test.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The ports of this test's own services.
const KAFKA_PORT: u16 = 19192;
const CH_HTTP_PORT: u16 = 18223;
const CH_TCP_PORT: u16 = 19300;

type Services = common::OwnServices;

/// One scenario's names and the pipeline's global flags for them.
struct Names {
    args: Vec<String>,
}

impl Names {
    fn new(services: &Services, what: &str) -> Names {
        Names {
            args: services.args(what),
        }
    }

    fn spawn(&self, args: &[&str], log: &str) -> Child {
        let log = std::fs::File::create(std::env::temp_dir().join(log)).unwrap();
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(&self.args)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the pipeline binary starts")
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(&self.args)
            .args(args)
            .output()
            .expect("the pipeline binary runs")
    }
}

/// `pipeline up --no-generate` (the dashboard, the verifier, the rescue, the duplicate
/// check), answering on its own port.
struct Up {
    child: Child,
    port: u16,
}

impl Up {
    async fn start(names: &Names, log: &str) -> Up {
        let port = common::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = names.spawn(&["up", "--no-generate", "--listen", &listen], log);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("pipeline up exited: {status} (log: {log} in the temp dir)");
            }
            if reqwest::get(format!("http://{listen}/favicon.ico"))
                .await
                .is_ok()
            {
                return Up { child, port };
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "pipeline up did not answer"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.kill9();
    }
}

enum Fault {
    KillClickHouse,
    KillBroker,
    KillGenerator,
    RestartUp,
}

/// What the audit says once nothing is pending and nothing missing (bounded wait).
fn settled_audit(names: &Names) -> Value {
    common::settled_audit(
        || names.run(&["audit", "--json", "--wait", "30s"]),
        Duration::from_secs(240),
    )
}

async fn scenario(services: &Services, fault: Fault, what: &str) {
    let names = Names::new(services, what);
    let mut up = Up::start(&names, &format!("{what}-up.log")).await;
    let mut generator = names.spawn(
        &["generate", "--rate", "1000", "--duration", "20s", "--json"],
        &format!("{what}-generate.log"),
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    match fault {
        Fault::KillClickHouse => {
            services.kill9("clickhouse/clickhouse.pid");
            tokio::time::sleep(Duration::from_secs(2)).await;
            services.script(&["start", "clickhouse"]);
        }
        Fault::KillBroker => {
            services.kill9("broker/broker.pid");
            tokio::time::sleep(Duration::from_secs(2)).await;
            services.script(&["start", "broker"]);
        }
        Fault::KillGenerator => {
            let _ = generator.kill();
        }
        Fault::RestartUp => {
            up.kill9();
            tokio::time::sleep(Duration::from_secs(2)).await;
            up = Up::start(&names, &format!("{what}-up2.log")).await;
        }
    }
    let status = generator.wait().unwrap();
    // What the generator says the broker acknowledged (its JSON summary, the log's last
    // line), unless it was killed before it could say.
    let acknowledged: Option<(u64, u64)> = if matches!(fault, Fault::KillGenerator) {
        None
    } else {
        assert!(status.success(), "{what}: the generator failed: {status}");
        let log =
            std::fs::read_to_string(std::env::temp_dir().join(format!("{what}-generate.log")))
                .unwrap();
        let summary: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        let events = |i: usize| summary["topics"][i]["events"].as_u64().unwrap();
        assert_eq!(summary["topics"][0]["failed"], 0, "{what}: {summary}");
        Some((events(0), events(1)))
    };
    let audit = tokio::task::spawn_blocking({
        let names = Names {
            args: names.args.clone(),
        };
        move || settled_audit(&names)
    })
    .await
    .unwrap();
    let topic = |i: usize| &audit["topics"][i];
    let (sales, moves) = (topic(0), topic(1));
    assert_eq!(sales["dead_lettered"], 0, "{what}: {audit}");
    assert!(
        sales["produced"].as_u64().unwrap() > 2_000,
        "{what}: flowed: {audit}"
    );
    // Every produced event counted once on the dashboard.
    let want_orders = sales["produced"].as_u64().unwrap();
    let want_moves = moves["produced"].as_u64().unwrap();
    if let Some(acked) = acknowledged {
        assert_eq!(
            acked,
            (want_orders, want_moves),
            "{what}: the broker holds each acknowledged event once"
        );
    }
    common::page_shows(
        &format!("http://127.0.0.1:{}", up.port),
        want_orders,
        want_moves,
        what,
    )
    .await;
    // The stock rollups too: stock_by_minute counts each movement once, and stock_levels
    // agrees with the raw table per warehouse and product (its check runs every 30 s).
    let root = clickhouse_http::Client::new(&format!("http://127.0.0.1:{CH_HTTP_PORT}"));
    let db = &names.args[5];
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Stock {
        events: i64,
        levels_off: u64,
    }
    let stock_query = format!(
        "SELECT (SELECT sumMerge(events) FROM {db}.stock_by_minute) AS events, \
                {} AS levels_off",
        common::stock_levels_off(db)
    );
    let start = Instant::now();
    loop {
        let stock: Stock = root.query_one(&stock_query).await.unwrap();
        if stock.events == want_moves as i64 && stock.levels_off == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: stock_by_minute counts {} movements (the broker holds {want_moves}); {} stock_levels keys differ from the raw table",
            stock.events,
            stock.levels_off
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(up);
    let _ = root.execute(&format!("DROP DATABASE IF EXISTS {db}")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_lost_when_parts_are_killed_under_load() {
    let services = tokio::task::spawn_blocking(|| {
        Services::start("fault-services", KAFKA_PORT, CH_HTTP_PORT, CH_TCP_PORT)
    })
    .await
    .unwrap();
    scenario(&services, Fault::KillGenerator, "fault_generator").await;
    scenario(&services, Fault::RestartUp, "fault_up").await;
    scenario(&services, Fault::KillClickHouse, "fault_clickhouse").await;
    scenario(&services, Fault::KillBroker, "fault_broker").await;
}
