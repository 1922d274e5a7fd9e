//! The default path, as a new user runs it: `pipeline up` with its own generator, stopped with
//! Ctrl-C or SIGTERM. Stopping stops the generator first, lets what it produced land, and
//! makes a last repair pass, so `pipeline audit` is clean right after, with no wait; on
//! 18.16 the Kafka tables are then paused (nothing is consumed while no verifier runs) and
//! the next `up` resumes them.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, pipeline};
use serde_json::Value;
use testkit::TestEnv;

/// `pipeline up` at `rate` events/s on a free port, output to a file (read at the end).
struct Up {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Up {
    fn start(env: &TestEnv, extra: &[&str]) -> Up {
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
        Up {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn output(&self) -> String {
        let mut s = String::new();
        std::fs::File::open(&self.log)
            .and_then(|mut f| f.read_to_string(&mut s))
            .unwrap();
        s
    }

    async fn health(&self) -> Option<Value> {
        let r = reqwest::get(format!("{}/api/health", self.base))
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Sends `signal` and waits (up to 90 s) for a clean exit; the output.
    fn stop(mut self, signal: &str) -> String {
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

/// Runs `up` for `seconds` at 300 events/s, stops it with `signal`; the audit right after.
async fn run_and_stop(env: &TestEnv, signal: &str, seconds: u64) -> (Value, String) {
    let up = Up::start(env, &["--rate", "300"]);
    // Running: the generator's events and produce → queryable latency samples on the
    // health panel.
    let start = Instant::now();
    loop {
        let h = up.health().await;
        let generated = h.as_ref().and_then(|h| h["generator"]["events"].as_u64());
        let samples = h.as_ref().and_then(|h| h["latency_ms"]["samples"].as_u64());
        if generated > Some(0)
            && samples > Some(0)
            && start.elapsed() >= Duration::from_secs(seconds)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(seconds + 60),
            "no generated events or latency samples on /api/health: {h:?}\n{}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = up.stop(signal);
    // No --wait: stopping made everything land.
    let audit = pipeline(env, &["audit", "--json"]);
    let report: Value = serde_json::from_slice(&audit.stdout).unwrap_or_else(|e| {
        panic!(
            "audit --json: {e}\n{}",
            String::from_utf8_lossy(&audit.stderr)
        )
    });
    assert!(
        audit.status.success(),
        "audit right after SIG{signal}: {report}\n{out}"
    );
    (report, out)
}

fn totals(report: &Value, field: &str) -> u64 {
    report["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} in {t}"))
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_up_leaves_nothing_unrepaired() {
    let env = TestEnv::new("default_path").await;
    let version = env.root().version().await.unwrap();
    let paused_by_stop = !schema::Features::for_version(version)
        .unwrap()
        .kafka_error_stream;

    let (report, out) = run_and_stop(&env, "INT", 20).await;
    let produced = totals(&report, "produced");
    assert!(produced > 3_000, "20 s at 300/s: {report}");
    for field in ["unique", "consumed"] {
        assert_eq!(totals(&report, field), produced, "{field}: {report}\n{out}");
    }
    assert_eq!(report["missing"], 0, "{report}");
    assert!(out.contains("stopped:"), "{out}");
    let paused = schema::paused_ingest(&env.clickhouse, &env.database)
        .await
        .unwrap();
    if paused_by_stop {
        assert_eq!(
            paused.len(),
            2,
            "18.16: both Kafka tables paused: {paused:?}\n{out}"
        );
    } else {
        assert!(paused.is_empty(), "{paused:?}");
    }

    // Events produced while no `up` runs wait on the topic (pending, not missing), and the
    // next `up` resumes the Kafka tables and takes them; SIGTERM stops it as cleanly.
    let summary = common::generate_seeded(&env, 11, 500, &["--json"]);
    assert!(summary.contains("\"failed\":0"), "{summary}");
    let (report, out) = run_and_stop(&env, "TERM", 5).await;
    let produced_now = totals(&report, "produced");
    assert!(produced_now > produced + 500, "{report}");
    for field in ["unique", "consumed"] {
        assert_eq!(
            totals(&report, field),
            produced_now,
            "{field}: {report}\n{out}"
        );
    }
    assert_eq!(report["missing"], 0, "{report}");
    env.drop_database().await;
}
