//! `pipeline bench` at a tiny size against the real services: every phase is in the JSON
//! with positive figures (no timing thresholds), and its databases are gone afterwards.

mod common;

use common::{free_port, pipeline, pipeline_ok};
use serde_json::Value;
use testkit::TestEnv;

fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x > 0.0 && x.is_finite(), "{what} = {x}");
    x
}

#[tokio::test(flavor = "multi_thread")]
async fn every_phase_reports_positive_figures() {
    let env = TestEnv::new("bench").await;
    let out = std::env::temp_dir().join(format!("{}.json", env.database));
    let port = free_port().to_string();
    let path = out.to_str().unwrap();
    let text = pipeline_ok(
        &env,
        &[
            "bench",
            "--events",
            "2000",
            "--ceiling-events",
            "2000",
            "--runs",
            "1",
            "--ceiling-port",
            &port,
            "--json-out",
            path,
        ],
    );
    assert!(
        text.contains("generator ceiling") && text.contains("ingest"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);

    let c = &json["phases"]["ceiling"];
    let counted = json["count_allocations"].as_bool().unwrap();
    for side in ["generator", "raw"] {
        let m = &c[side]["median"];
        positive(&m["events_per_s"], &format!("{side} events/s"));
        positive(&m["cpu_us_per_event"], &format!("{side} CPU per event"));
        if counted {
            positive(
                &m["allocs_per_event"],
                &format!("{side} allocations per event"),
            );
        } else {
            assert!(m["allocs_per_event"].is_null(), "not measured is null: {m}");
        }
        // Clock-tick resolution: may be 0 for 2000 events, never missing (the bench
        // started the broker).
        assert!(m["broker_cpu_us_per_event"].as_f64().unwrap() >= 0.0, "{m}");
        assert_eq!(c[side]["runs"].as_array().unwrap().len(), 1);
    }
    positive(&c["ratio_events_per_s"], "ratio");

    let i = &json["phases"]["ingest"];
    let runs = i["runs"].as_array().unwrap();
    let consumers: Vec<u64> = runs
        .iter()
        .map(|r| r["consumers"].as_u64().unwrap())
        .collect();
    assert_eq!(consumers, [1, 2]);
    for r in runs {
        assert_eq!(r["expected"].as_u64(), Some(2000), "{r}");
        positive(&r["rows"], "rows landed");
        positive(&r["rows_per_s"], "rows/s");
        positive(&r["seconds"], "landing seconds");
    }
    positive(&i["backlog_produce_events_per_s"], "backlog events/s");

    // The bench databases are dropped.
    #[derive(serde::Deserialize)]
    struct N {
        n: u64,
    }
    let left: N = env
        .root()
        .query_one(&format!(
            "SELECT count() AS n FROM system.databases WHERE startsWith(name, '{}')",
            env.database
        ))
        .await
        .unwrap();
    assert_eq!(left.n, 0, "bench databases left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_service_is_a_clear_error() {
    let env = TestEnv::new("bench_down").await;
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = pipeline(
        &env,
        &["bench", "--phases", "ingest", "--clickhouse-url", &url],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&url) && err.contains("scripts/services start"),
        "{err}"
    );

    let out = pipeline(
        &env,
        &[
            "bench",
            "--phases",
            "ceiling",
            "--tansu-bin",
            "/nonexistent/tansu",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tansu not found at /nonexistent/tansu"),
        "{err}"
    );
}
