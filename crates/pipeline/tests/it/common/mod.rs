//! Running the real `pipeline` binary against a test's own database and topics.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use testkit::TestEnv;

pub fn pipeline(env: &TestEnv, args: &[&str]) -> Output {
    pipeline_with(&env.pipeline_args(), args)
}

/// `pipeline <global> <args>`, logging warnings only.
pub fn pipeline_with(global: &[String], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(global)
        .args(args)
        .env("PIPELINE_LOG", "warn")
        .output()
        .expect("the pipeline binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pipeline generate` of `count` events from `seed`, as fast as the broker takes them.
pub fn generate_seeded(env: &TestEnv, seed: u64, count: u64, extra: &[&str]) -> String {
    let (seed, count) = (seed.to_string(), count.to_string());
    let mut args = vec![
        "generate", "--rate", "0", "--count", &count, "--seed", &seed,
    ];
    args.extend_from_slice(extra);
    pipeline_ok(env, &args)
}

/// Runs and asserts success, returning stdout.
pub fn pipeline_ok(env: &TestEnv, args: &[&str]) -> String {
    pipeline_with_ok(&env.pipeline_args(), args)
}

/// As [`pipeline_ok`], with other global flags.
pub fn pipeline_with_ok(global: &[String], args: &[&str]) -> String {
    let out = pipeline_with(global, args);
    assert!(
        out.status.success(),
        "pipeline {args:?} failed ({}):\n{}\n{}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// `pipeline serve` on a free loopback port; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `snapshot` events complete in `buf` (Server-Sent Events text), parsed; what they
/// were read from is drained, a partial event stays.
pub fn sse_snapshots(buf: &mut String) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut event = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if event.as_deref() == Some("snapshot") {
            out.push(
                serde_json::from_str::<Value>(&data)
                    .unwrap_or_else(|e| panic!("snapshot is not JSON ({e}): {data}")),
            );
        }
    }
    out
}

/// The entry of `pipeline audit --json`'s topics for `table`.
pub fn audit_topic<'a>(audit: &'a Value, table: &str) -> &'a Value {
    audit["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("no {table} in {audit}"))
}

/// What `pipeline doctor` prints when every check passes (ClickHouse's read of the broker
/// included).
pub const DOCTOR_ALL_OK: [&str; 5] = [
    "ok   broker",
    "ok   topic",
    "ok   clickhouse ",
    "ok   database",
    "ok   clickhouse→broker",
];

/// A free loopback port (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Server {
    /// Starts `pipeline <args> serve` and waits until it answers HTTP.
    pub async fn start(args: Vec<String>) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(&args)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("PIPELINE_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the pipeline binary starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let start = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("pipeline serve exited before answering: {status}");
            }
            // The favicon is answered without asking ClickHouse.
            if server.get("/favicon.ico").await.0 == 204 {
                return server;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "pipeline serve did not answer on {} within 20 s",
                server.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The serve process's id (its statements' query_id starts with `serve.<pid>.`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Status and body; a connection failure is status 0.
    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// A JSON answer with the given status.
    pub async fn json(&self, path: &str, status: u16) -> Value {
        let (got, body) = self.get(path).await;
        assert_eq!(got, status, "GET {path} answered {got}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// The first `snapshot` event of `/api/stream?range=...`.
    pub async fn first_snapshot(&self, range: &str) -> Value {
        let path = format!("/api/stream?range={range}");
        let read = async {
            let mut r = self
                .http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("the stream answers");
            assert_eq!(r.status().as_u16(), 200, "GET {path}");
            let ct = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_string();
            assert!(ct.starts_with("text/event-stream"), "content type {ct}");
            let mut buf = String::new();
            loop {
                let chunk = r.chunk().await.expect("stream chunk").expect("stream open");
                buf.push_str(&String::from_utf8_lossy(&chunk));
                if let Some(snapshot) = sse_snapshots(&mut buf).into_iter().next() {
                    return snapshot;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(15), read)
            .await
            .unwrap_or_else(|_| panic!("no snapshot event on {path} within 15 s"))
    }
}

/// Waits until the raw tables and every rollup hold exactly the given events: `sales` and
/// `moves` rows, and `move_quantity` units across the stock levels.
pub async fn wait_landed(
    env: &testkit::TestEnv,
    sales: u64,
    moves: u64,
    move_quantity: u64,
    timeout: Duration,
) {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Counts {
        sales: u64,
        moves: u64,
        sales_rollup: u64,
        moves_rollup: u64,
        levels_quantity: u64,
    }
    let want = Counts {
        sales,
        moves,
        sales_rollup: sales,
        moves_rollup: moves,
        levels_quantity: move_quantity,
    };
    let db = &env.database;
    let sql = format!(
        "SELECT (SELECT count() FROM {db}.sales) AS sales, \
         (SELECT count() FROM {db}.stock_movements) AS moves, \
         (SELECT toUInt64(sumMerge(orders)) FROM {db}.sales_by_minute) AS sales_rollup, \
         (SELECT toUInt64(sumMerge(events)) FROM {db}.stock_by_minute) AS moves_rollup, \
         (SELECT toUInt64(sum(supplied + relocated + written_off)) FROM {db}.stock_levels) AS levels_quantity"
    );
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Ok(c) = env.clickhouse.query_one::<Counts>(&sql).await {
            if c == want {
                return;
            }
            last = Some(c);
        }
        assert!(
            start.elapsed() < timeout,
            "the events did not land within {timeout:?}: want {want:?}, have {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What `pipeline up` runs beside the Kafka engine where the server has no error stream
/// mode: the verifier (every committed message is in a table, or it is replayed) and the
/// rescue of stalled tables, each every second. Stopped when dropped.
pub struct Guards(tokio_util::sync::CancellationToken);

impl Guards {
    pub async fn start(env: &TestEnv) -> Guards {
        let stop = tokio_util::sync::CancellationToken::new();
        let version = env.clickhouse.version().await.expect("server version");
        let on_18_16 = schema::Dialect::for_version(version).expect("supported")
            == schema::Dialect::ClickHouse1816;
        if on_18_16 {
            let db = env.database.clone();
            let sources = reconcile::Source::both(&env.sales_topic, &env.warehouse_topic, |t| {
                format!("clickhouse_{db}_{t}")
            });
            let period = Duration::from_secs(1);
            let verify = clickhouse_18_16::verify::Verify::new(
                env.clickhouse.clone(),
                &db,
                env.kafka.clone(),
                sources.clone(),
            );
            tokio::spawn(verify.run(period, stop.clone()));
            let rescue = clickhouse_18_16::rescue::Rescue::new(
                env.clickhouse.clone(),
                &db,
                env.kafka.clone(),
                sources,
                Duration::from_secs(5),
            );
            tokio::spawn(rescue.run(period, stop.clone()));
        }
        Guards(stop)
    }
}

impl Drop for Guards {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Every message of `topic`, read from the beginning up to the end offsets.
pub fn read_all(env: &TestEnv, topic: &str) -> Vec<Vec<u8>> {
    read_all_placed(env, topic)
        .into_iter()
        .map(|m| m.payload)
        .collect()
}

/// A message and where it sits.
pub struct Placed {
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
}

/// Every message of `topic` with its partition and offset, from the beginning up to the end
/// offsets.
pub fn read_all_placed(env: &TestEnv, topic: &str) -> Vec<Placed> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message as _, Offset, TopicPartitionList};
    let parts = kafka_admin::partition_offsets(&env.kafka, topic, Duration::from_secs(10))
        .expect("the topic's offsets");
    let mut config = env.kafka.client_config();
    config
        .set("group.id", testkit::unique_name("reader"))
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for p in &parts {
        assignment
            .add_partition_offset(topic, p.partition, Offset::Offset(p.low))
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign the partitions");
    let want: i64 = parts.iter().map(|p| p.high - p.low).sum();
    let mut out = Vec::new();
    let start = Instant::now();
    while (out.len() as i64) < want {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "read {} of {want} messages of {topic} in 60 s",
            out.len()
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => out.push(Placed {
                partition: m.partition(),
                offset: m.offset(),
                payload: m.payload().unwrap_or_default().to_vec(),
            }),
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// What current ClickHouse makes of `messages` (table, topic, message): their DDL rendered
/// for 25.8 runs in chDB (`tests/modern_clickhouse/check_ddl.py --outcomes`), each message
/// fed to its Kafka table's stand-in as the engine hands it over. Per (topic, partition,
/// offset): the dead_letter reasons and the rows it became.
pub fn outcomes_on_current_clickhouse(
    env: &TestEnv,
    messages: &[(&str, &str, &Placed)],
) -> std::collections::BTreeMap<(String, i32, i64), (Vec<String>, u64)> {
    use std::fmt::Write as _;
    let dir = std::env::temp_dir().join(testkit::unique_name("outcomes"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("messages.jsonl");
    let mut lines = String::new();
    for (table, topic, m) in messages {
        let hex = m.payload.iter().fold(String::new(), |mut h, b| {
            let _ = write!(h, "{b:02x}");
            h
        });
        lines.push_str(
            &serde_json::json!({"table": table, "topic": topic, "partition": m.partition,
                                "offset": m.offset, "hex": hex})
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(&file, lines).unwrap();
    let mut config = schema::SchemaConfig::new(&env.database, &env.kafka.brokers);
    config.sales_topic = env.sales_topic.clone();
    config.warehouse_topic = env.warehouse_topic.clone();
    let ddl = schema::script(&config, "25.8".parse().unwrap()).expect("the 25.8 DDL");
    let out = testkit::modern_clickhouse(
        "check_ddl.py",
        &[std::ffi::OsStr::new("--outcomes"), file.as_os_str()],
        &ddl,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chDB outcomes failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    stdout
        .lines()
        .filter(|l| l.starts_with("{\"topic\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                (
                    v["topic"].as_str().unwrap().to_string(),
                    v["partition"].as_i64().unwrap() as i32,
                    v["offset"].as_i64().unwrap(),
                ),
                (
                    v["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect(),
                    v["rows"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// A scalar subquery: how many (warehouse, product) keys of `stock_levels` hold a level other
/// than one copy of each movement in `stock_movements` gives.
pub fn stock_levels_off(db: &str) -> String {
    format!(
        "(SELECT toUInt64(count()) FROM ( \
            SELECT warehouse, product_id, sum(level) AS off FROM ( \
                SELECT warehouse, product_id, sum(supplied) - sum(relocated) - sum(written_off) AS level \
                FROM {db}.stock_levels GROUP BY warehouse, product_id \
                UNION ALL \
                SELECT warehouse, product_id, -sum(multiIf(movement_type = 'supply', toInt64(quantity), \
                       movement_type IN ('relocation', 'write_off'), -toInt64(quantity), toInt64(0))) AS level \
                FROM (SELECT * FROM {db}.stock_movements LIMIT 1 BY event_id) GROUP BY warehouse, product_id) \
            GROUP BY warehouse, product_id HAVING off != 0))"
    )
}

/// Messages as the replay door takes them (partition -1: not from the engine; offsets in
/// order), for delivering them again.
pub fn as_replayed(
    messages: impl IntoIterator<Item = Vec<u8>>,
) -> Vec<clickhouse_18_16::replay::Raw> {
    messages
        .into_iter()
        .enumerate()
        .map(|(offset, payload)| clickhouse_18_16::replay::Raw {
            partition: -1,
            offset: offset as i64,
            timestamp_ms: 0,
            payload,
        })
        .collect()
}

/// Waits (30 s at most) until the page at `base` shows `sales` orders over 24 h and row
/// counts `[sales, moves]`.
pub async fn page_shows(base: &str, sales: u64, moves: u64, what: &str) {
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            reqwest::get(&url)
                .await
                .and_then(|r| r.error_for_status())
                .unwrap_or_else(|e| panic!("GET {url}: {e}"))
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let start = std::time::Instant::now();
    loop {
        let ov = get("/api/overview?range=24h").await;
        let health = get("/api/health").await;
        let orders = ov["kpis"]["orders"]["value"].to_string();
        let rows: Vec<u64> = health["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["rows"].as_u64().unwrap())
            .collect();
        if orders.trim_matches('"') == sales.to_string() && rows == [sales, moves] {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: the dashboard shows {orders} orders and rows {rows:?}; produced {sales} sales and {moves} movements"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `scripts/services <args>` with the given environment (data dir, ports, instance),
/// asserting success.
pub fn services(data_dir: &std::path::Path, envs: &[(&str, String)], args: &[&str]) {
    let out = Command::new("bash")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services"))
        .args(args)
        .env("PIPELINE_DATA_DIR", data_dir)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("scripts/services runs");
    assert!(
        out.status.success(),
        "scripts/services {args:?} {envs:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A broker and a ClickHouse server of one test's own (`scripts/services` on their own ports,
/// data under `target/<name>`), so stopping or killing them disturbs no other test. Stopped
/// when dropped.
pub struct OwnServices {
    pub data_dir: std::path::PathBuf,
    pub kafka: u16,
    pub http: u16,
    pub tcp: u16,
}

impl OwnServices {
    /// Starts both from an empty data dir: what a previous run left there (a server still
    /// holding the dir, databases with Kafka tables) must not decide this run.
    pub fn start(name: &str, kafka: u16, http: u16, tcp: u16) -> OwnServices {
        let data_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target")
            .join(name);
        let s = OwnServices {
            data_dir,
            kafka,
            http,
            tcp,
        };
        if s.data_dir.exists() {
            s.script(&["stop"]);
            std::fs::remove_dir_all(&s.data_dir)
                .unwrap_or_else(|e| panic!("emptying {}: {e}", s.data_dir.display()));
        }
        s.script(&["start"]);
        s
    }

    /// `scripts/services <args>` for these services.
    pub fn script(&self, args: &[&str]) {
        services(
            &self.data_dir,
            &[
                ("KAFKA_PORT", self.kafka.to_string()),
                ("CLICKHOUSE_HTTP_PORT", self.http.to_string()),
                ("CLICKHOUSE_TCP_PORT", self.tcp.to_string()),
            ],
            args,
        );
    }

    /// kill -9 of a service by its pid file (`clickhouse/clickhouse.pid`, `broker/broker.pid`),
    /// then waits for the process to be gone.
    pub fn kill9(&self, pid_file: &str) {
        let pid = std::fs::read_to_string(self.data_dir.join(pid_file))
            .unwrap_or_else(|e| panic!("{pid_file}: {e}"))
            .trim()
            .to_string();
        let ok = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(ok.success(), "kill -9 {pid}");
        let start = Instant::now();
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{pid} survived kill -9"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pipeline's global flags for these services and a database and topics named
    /// after `what`.
    pub fn args(&self, what: &str) -> Vec<String> {
        let name = testkit::unique_name(what);
        vec![
            "--kafka-brokers".into(),
            format!("127.0.0.1:{}", self.kafka),
            "--clickhouse-url".into(),
            format!("http://127.0.0.1:{}", self.http),
            "--database".into(),
            name.clone(),
            "--sales-topic".into(),
            format!("{name}_sales"),
            "--warehouse-topic".into(),
            format!("{name}_warehouse"),
        ]
    }
}

impl Drop for OwnServices {
    fn drop(&mut self) {
        self.script(&["stop"]);
    }
}

/// `pipeline audit --json` (run by `audit`) until nothing is pending or missing; panics after
/// `limit`.
pub fn settled_audit(audit: impl Fn() -> Output, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let out = audit();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let settled = json["missing"] == 0
            && json["topics"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["pending"] == 0));
        if settled && out.status.success() {
            return json;
        }
        assert!(
            start.elapsed() < limit,
            "not settled within {limit:?}: {json} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Writes `messages` (Kafka table, topic, message) to `path` as JSON lines, the input of
/// `tests/modern_clickhouse/check_ddl.py --outcomes` and `flow.py`: table, topic, partition,
/// offset and the bytes in hex.
pub fn write_placed_messages(path: &std::path::Path, messages: &[(&str, &str, &Placed)]) {
    use std::fmt::Write as _;
    let mut lines = String::new();
    for (table, topic, m) in messages {
        let hex = m.payload.iter().fold(String::new(), |mut h, b| {
            let _ = write!(h, "{b:02x}");
            h
        });
        let line = serde_json::json!({"table": table, "topic": topic, "partition": m.partition,
                                      "offset": m.offset, "hex": hex});
        let _ = writeln!(lines, "{line}");
    }
    std::fs::write(path, lines).expect("write the messages file");
}

/// Produces `messages` as they are (bytes, not events) into partition 0 of `topic`, so
/// their offsets are known, and waits for the broker to acknowledge them.
pub fn produce(env: &TestEnv, topic: &str, messages: &[Vec<u8>]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = env.kafka.client_config().create().expect("producer");
    for m in messages {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .partition(0)
                    .payload(m.as_slice()),
            )
            .expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");
}

/// `pipeline up` on a free port, its output to a file (read with `output`); killed when
/// dropped.
pub struct Up {
    child: Child,
    pub port: u16,
    log: std::path::PathBuf,
}

impl Up {
    pub fn start(env: &TestEnv, extra: &[&str]) -> Up {
        let port = free_port();
        let log = std::env::temp_dir()
            .join(testkit::unique_name("up"))
            .with_extension("log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(env.pipeline_args())
            .args(["up", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("PIPELINE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the pipeline binary starts");
        Up { child, port, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn metrics(&self) -> Option<String> {
        reqwest::get(self.url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    pub async fn health(&self) -> Option<Value> {
        reqwest::get(self.url("/api/health"))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    /// Sends `signal` (`INT`, `TERM`) and waits up to 90 s for a clean exit; the output.
    pub fn stop(mut self, signal: &str) -> String {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        let code = loop {
            if let Some(code) = self.child.try_wait().unwrap() {
                break code;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "up did not stop within 90 s of SIG{signal}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let out = self.output();
        assert!(
            code.success(),
            "up exited with {code} after SIG{signal}:\n{out}"
        );
        out
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
