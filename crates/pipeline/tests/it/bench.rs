//! `pipeline bench` at a tiny size against the real services: every phase is in the JSON
//! with positive figures (no timing thresholds) and exact counts, and its databases are
//! gone afterwards.

use crate::common::{free_port, pipeline, pipeline_ok};
use generate::{Event, EventTime, Generator, GeneratorConfig};
use serde_json::Value;
use testkit::TestEnv;

/// Events of the ingest backlog and of each ceiling run, and their seed.
const EVENTS: u64 = 2000;
const SEED: u64 = 3;

/// (sales, stock movements) among the first `n` events of `seed`.
fn split(seed: u64, n: u64) -> (u64, u64) {
    let mut gen = Generator::new(&GeneratorConfig {
        seed: Some(seed),
        ..Default::default()
    })
    .unwrap();
    let sales = (0..n)
        .filter(|_| {
            matches!(
                gen.next_event(EventTime(*b"2026-01-01 00:00:00")),
                Event::Sale(_)
            )
        })
        .count() as u64;
    (sales, n - sales)
}

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
    let (events, seed) = (EVENTS.to_string(), SEED.to_string());
    let text = pipeline_ok(
        &env,
        &[
            "bench",
            "--events",
            &events,
            "--ceiling-events",
            &events,
            "--seed",
            &seed,
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
        assert_eq!(c[side]["runs"][0]["events"].as_u64(), Some(EVENTS), "{c}");
    }
    positive(&c["ratio_events_per_s"], "ratio");

    let i = &json["phases"]["ingest"];
    let runs = i["runs"].as_array().unwrap();
    let consumers: Vec<u64> = runs
        .iter()
        .map(|r| r["consumers"].as_u64().unwrap())
        .collect();
    assert_eq!(consumers, [1, 2]);
    assert_eq!(i["events"].as_u64(), Some(EVENTS), "{i}");
    let (sales, moves) = split(SEED, EVENTS);
    for r in runs {
        // Every event lands exactly once: fresh consumers that are never stopped read the
        // backlog once, and the run waits for all of it (it stops short, reporting the rest
        // missing, only after 20 s without a new row).
        assert_eq!(r["expected"].as_u64(), Some(EVENTS), "{r}");
        assert_eq!(r["rows"].as_u64(), Some(EVENTS), "rows landed: {r}");
        assert_eq!(r["missing"].as_u64(), Some(0), "rows missing: {r}");
        let tables: Vec<(&str, u64, u64)> = r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["table"].as_str().unwrap(),
                    t["produced"].as_u64().unwrap(),
                    t["rows"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            tables,
            [("sales", sales, sales), ("stock_movements", moves, moves)],
            "seed {SEED}'s events per table: (table, produced, rows) in {r}"
        );
        for t in r["tables"].as_array().unwrap() {
            // Read right after the last row was seen: the engine commits a block after it
            // has written it, so the last commit may not be in yet; never past the end.
            let committed = t["committed"].as_u64().unwrap();
            assert!(committed <= t["produced"].as_u64().unwrap(), "{t}");
        }
        positive(&r["rows_per_s"], "rows/s");
        positive(&r["seconds"], "landing seconds");
    }
    positive(&i["backlog_produce_events_per_s"], "backlog events/s");

    // The bench databases are dropped.
    no_bench_databases_left(&env).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn api_phase_reports_positive_figures() {
    let env = TestEnv::new("bench_api").await;
    let out = std::env::temp_dir().join(format!("{}.json", env.database));
    let text = pipeline_ok(
        &env,
        &[
            "bench",
            "--phases",
            "api",
            "--api-sizes",
            "20000",
            "--api-requests",
            "20",
            "--api-warmup",
            "2",
            "--json-out",
            out.to_str().unwrap(),
        ],
    );
    assert!(text.contains("api: dashboard API latency"), "{text}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);

    let sizes = json["phases"]["api"]["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 1);
    let s = &sizes[0];
    assert_eq!(s["events"].as_u64(), Some(20_000), "{s}");
    assert!(s["skipped"].is_null(), "{s}");
    let load = &s["load"];
    assert_eq!(
        load["sales_rows"].as_u64().unwrap() + load["stock_movements_rows"].as_u64().unwrap(),
        20_000,
        "{load}"
    );
    positive(&load["total_s"], "load seconds");
    // Every hour of the 7 days but the current one, in both families, sealed by the
    // reconcile loop's code.
    positive(&load["seal_s"], "sealing seconds");
    assert!(
        load["hours_sealed"].as_u64().unwrap() >= 2 * 166,
        "hours sealed: {load}"
    );
    positive(&load["bytes_on_disk"], "bytes on disk");
    let api = s["api"].as_array().unwrap();
    let paths: Vec<&str> = api.iter().map(|l| l["name"].as_str().unwrap()).collect();
    for p in [
        "/api/overview?range=1h",
        "/api/overview?range=24h",
        "/api/overview?range=7d",
        "/api/sales",
        "/api/stock",
        "/api/recent_sales",
        "/api/status",
        "/api/stock_levels",
        "/api/health",
    ] {
        assert!(paths.contains(&p), "{p} not measured: {paths:?}");
    }
    let original = s["original"].as_array().unwrap();
    assert_eq!(original.len(), 4);
    for l in api.iter().chain(original) {
        let name = l["name"].as_str().unwrap();
        assert_eq!(l["n"].as_u64(), Some(20), "{l}");
        positive(&l["p50_ms"], &format!("{name} p50"));
        positive(&l["p99_ms"], &format!("{name} p99"));
        positive(&l["max_ms"], &format!("{name} max"));
        positive(&l["body_bytes"], &format!("{name} body"));
        if name != "/api/health" {
            positive(
                &l["clickhouse"]["statements"],
                &format!("{name} statements"),
            );
        }
    }
    positive(&s["rss"]["peak_mb"], "serve RSS peak");
    positive(&s["rss"]["median_mb"], "serve RSS median");

    no_bench_databases_left(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_latency_phase_reports_positive_figures() {
    let env = TestEnv::new("bench_lat").await;
    let out = std::env::temp_dir().join(format!("{}.json", env.database));
    let path = out.to_str().unwrap();
    let text = pipeline_ok(
        &env,
        &[
            "bench",
            "--phases",
            "latency",
            "--latency-rates",
            "20",
            "--latency-duration",
            "5s",
            "--latency-warmup",
            "2s",
            "--json-out",
            path,
        ],
    );
    assert!(text.contains("latency") && text.contains("p99"), "{text}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);

    let l = &json["phases"]["latency"];
    positive(&l["poll_ms"], "poll period");
    let runs = l["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{l}");
    let r = &runs[0];
    assert_eq!(r["rate"].as_u64(), Some(20), "{r}");
    // `pipeline up`'s block size for 20 events/s: half a second of the rate.
    assert_eq!(r["max_block_size"].as_u64(), Some(10), "{r}");
    positive(&r["first_row_s"], "time to the first row");
    let sales = &r["tables"][0];
    assert_eq!(sales["table"].as_str(), Some("sales"), "{sales}");
    positive(&sales["samples"], "sales samples");
    for q in ["min_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"] {
        positive(&sales[q], &format!("sales {q}"));
    }
    positive(&sales["block_fill_s"], "sales block fill");

    no_bench_databases_left(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_viewers_phase_reports_its_figures() {
    let env = TestEnv::new("bench_view").await;
    let out = std::env::temp_dir().join(format!("{}.json", env.database));
    let text = pipeline_ok(
        &env,
        &[
            "bench",
            "--phases",
            "viewers",
            "--viewers-events",
            "20000",
            "--viewers-clients",
            "50",
            "--viewers-duration",
            "5s",
            "--viewers-window",
            "3s",
            "--viewers-ranges",
            "1h,7d",
            "--viewers-http",
            "5",
            "--json-out",
            out.to_str().unwrap(),
        ],
    );
    assert!(text.contains("viewers: 50 SSE clients"), "{text}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);

    let r = &json["phases"]["viewers"]["run"];
    assert_eq!(r["events"].as_u64(), Some(20_000), "{r}");
    assert_eq!(r["clients"].as_u64(), Some(50), "{r}");
    assert_eq!(
        r["connected"].as_u64(),
        Some(50),
        "every viewer got a snapshot: {r}"
    );
    // At this load nothing fails: no refused or dropped stream, no snapshot with an error,
    // no failed API request (the phase reports errors; only this test requires none).
    let e = &r["errors"];
    for k in ["connect", "dropped", "snapshot", "http", "total"] {
        assert_eq!(e[k].as_u64(), Some(0), "errors.{k}: {e}");
    }
    positive(&r["snapshots_min"], "snapshots per client (min)");
    positive(&r["snapshots_median"], "snapshots per client (median)");
    positive(&r["snapshots_target"], "scaled target");
    let api = r["api"].as_array().unwrap();
    let paths: Vec<&str> = api.iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/api/overview", "/api/sales"]);
    for a in api {
        positive(&a["requests"], "API requests");
        positive(&a["p50_ms"], "API p50");
        positive(&a["p99_ms"], "API p99");
    }
    positive(&r["serve_peak_rss_mb"], "serve peak RSS");
    assert!(r["serve_cpu_s"].as_f64().unwrap() >= 0.0, "{r}");
    // Windows: idle, one viewer on 1h then on 7d, all viewers, all viewers + HTTP load.
    let windows = r["windows"].as_array().unwrap();
    let labels: Vec<&str> = windows
        .iter()
        .map(|w| w["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "idle (no viewer)",
            "1 viewer, 1h",
            "1 viewer, 7d",
            "50 viewers, 1h",
            "50 viewers + 5 HTTP connections"
        ],
        "{r}"
    );
    for w in &windows[1..] {
        // A viewer makes the server ask ClickHouse something every second.
        positive(&w["statements"], &format!("statements in {}", w["label"]));
        positive(
            &w["clickhouse_ms_per_s"],
            &format!("ClickHouse ms/s in {}", w["label"]),
        );
    }
    positive(&r["qps_ratio_viewers"], "statements/s ratio");
    positive(
        &r["qps_ratio_with_http"],
        "statements/s ratio with the HTTP load",
    );
    assert!(
        r["counted_by"]
            .as_str()
            .unwrap()
            .starts_with("query_id prefix serve."),
        "the server names its statements: {r}"
    );

    no_bench_databases_left(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_ceiling_phase_reports_its_figures() {
    let env = TestEnv::new("bench_eng").await;
    let out = std::env::temp_dir().join(format!("{}.json", env.database));
    let events = EVENTS.to_string();
    let text = pipeline_ok(
        &env,
        &[
            "bench",
            "--phases",
            "engine-ceiling",
            "--events",
            &events,
            "--seed",
            &SEED.to_string(),
            "--json-out",
            out.to_str().unwrap(),
        ],
    );
    assert!(text.contains("engine-ceiling"), "{text}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);

    let e = &json["phases"]["engine_ceiling"];
    assert_eq!(e["events"].as_u64(), Some(EVENTS), "{e}");
    let runs = e["runs"].as_array().unwrap();
    let variants: Vec<&str> = runs
        .iter()
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    // The k-views variant is opt-in (--engine-views).
    assert_eq!(variants, ["one_view", "schema"], "{e}");
    for v in ["one_view", "schema"] {
        assert!(variants.contains(&v), "{v} not measured: {variants:?}");
    }
    for r in runs {
        // Every message lands, once per table (fewer than a block: 18.16's lost message
        // at a full block cannot happen).
        assert_eq!(r["rows"].as_u64(), Some(EVENTS), "{r}");
        assert_eq!(r["missing"].as_u64(), Some(0), "{r}");
        positive(&r["rows_per_s"], "rows/s");
    }
    positive(&e["ceiling_rows_per_s"], "ceiling rows/s");
    let ratio = positive(&e["ratio_schema_to_ceiling"], "ours / ceiling");
    assert!(ratio <= 1.5, "ours / ceiling = {ratio}: {e}");
    positive(
        &e["schema_kafka_views"],
        "the schema's views on Kafka tables",
    );
    // chDB's line where scripts/test provides chDB; "not measured" otherwise.
    if std::env::var_os("CHDB_PYTHON").is_some() {
        let lines = e["chdb"].as_array().unwrap_or_else(|| panic!("chDB: {e}"));
        assert!(!lines.is_empty(), "{e}");
        for l in lines {
            positive(&l["messages_per_s"], "chDB messages/s");
        }
    }

    no_bench_databases_left(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_phase_without_clickhouse_is_a_clear_error() {
    let env = TestEnv::new("bench_api_down").await;
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = pipeline(
        &env,
        &[
            "bench",
            "--phases",
            "api",
            "--api-sizes",
            "1000",
            "--clickhouse-url",
            &url,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&url) && err.contains("scripts/services start"),
        "{err}"
    );
}

/// The bench drops every database it made (all named after the test's).
async fn no_bench_databases_left(env: &TestEnv) {
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
