//! The default path, as a new user runs it: `pipeline up` with its own generator, stopped with
//! Ctrl-C or SIGTERM. Stopping stops the generator first, lets what it produced land, and
//! makes a last repair pass, so `pipeline audit` is clean right after, with no wait; on
//! 18.16 the Kafka tables are then paused (nothing is consumed while no verifier runs) and
//! the next `up` resumes them. While it runs, `/api/health` and `/metrics` show the
//! generator and produce → queryable latency; `--bad-ratio` gives one dead letter per bad
//! message.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{pipeline, Up};
use serde_json::Value;
use testkit::TestEnv;

/// The value of the sample `name` (with its labels) in Prometheus text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Runs `up` for `seconds` at 300 events/s (with `extra` flags), stops it with `signal`;
/// the audit right after, and what `up` printed.
async fn run_and_stop(
    env: &TestEnv,
    signal: &str,
    seconds: u64,
    extra: &[&str],
) -> (Value, String) {
    let up = Up::start(env, &[&["--rate", "300"], extra].concat());
    // Running: the generator's events and produce → queryable latency samples on the
    // health panel.
    // `seconds` of generation are counted from its first acknowledged event: the checks
    // and the schema before it take longer on a loaded machine.
    let start = Instant::now();
    let mut generating: Option<Instant> = None;
    loop {
        let h = up.health().await;
        let generated = h.as_ref().and_then(|h| h["generator"]["events"].as_u64());
        let samples = h.as_ref().and_then(|h| h["latency_ms"]["samples"].as_u64());
        if generated > Some(0) {
            generating.get_or_insert_with(Instant::now);
        }
        if samples > Some(0)
            && generating.is_some_and(|g| g.elapsed() >= Duration::from_secs(seconds))
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
    // The same on /metrics, which Prometheus scrapes.
    let metrics = up.metrics().await.expect("/metrics answers");
    assert!(
        sample(&metrics, "pipeline_generator_events_total") > Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "pipeline_generator_failures_total"),
        Some(0.0),
        "{metrics}"
    );
    for q in ["0.5", "0.95"] {
        let name = format!("pipeline_produce_to_queryable_seconds{{quantile=\"{q}\"}}");
        let v = sample(&metrics, &name).unwrap_or_else(|| panic!("no {name}:\n{metrics}"));
        // Produce → queryable is seconds on 18.16 (blocks of half a second, the flush).
        assert!(v > 0.0 && v < 60.0, "{name} = {v}");
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
    let paused_by_stop =
        schema::Dialect::for_version(version).unwrap() == schema::Dialect::ClickHouse1816;

    // With --bad-ratio (the case that once crashed 18.16): one dead letter per bad message.
    let (report, out) = run_and_stop(&env, "INT", 20, &["--bad-ratio", "0.02"]).await;
    let produced = totals(&report, "produced");
    // 20 s at 300/s is 6,000: half of it is a bound no scheduling hiccup reaches.
    assert!(produced > 3_000, "20 s at 300/s: {report}");
    assert_eq!(totals(&report, "consumed"), produced, "{report}\n{out}");
    let bad: u64 = [&env.sales_topic, &env.warehouse_topic]
        .iter()
        .map(|topic| {
            // up's summary: topic, events, bytes, events/s, failed, bad.
            let line = out
                .lines()
                .find(|l| l.split_whitespace().next() == Some(topic.as_str()))
                .unwrap_or_else(|| panic!("no summary line for {topic}:\n{out}"));
            line.split_whitespace()
                .last()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(bad > 0, "2 % of more than 3,000: {out}");
    assert_eq!(totals(&report, "dead_lettered"), bad, "{report}\n{out}");
    assert_eq!(totals(&report, "unique") + bad, produced, "{report}\n{out}");
    assert_eq!(report["missing"], 0, "{report}");
    assert!(out.contains("stopped:"), "{out}");
    // Every guard stopped on its cancel (one that ignored it would only make the stop 30 s
    // slower, and say so).
    assert!(!out.contains("did not stop"), "{out}");
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
    let (report, out) = run_and_stop(&env, "TERM", 5, &[]).await;
    let produced_now = totals(&report, "produced");
    assert!(produced_now > produced + 500, "{report}");
    assert_eq!(totals(&report, "consumed"), produced_now, "{report}\n{out}");
    assert_eq!(
        totals(&report, "unique") + bad,
        produced_now,
        "{report}\n{out}"
    );
    assert_eq!(report["missing"], 0, "{report}");
    env.drop_database().await;
}
