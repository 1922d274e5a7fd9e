//! Many viewers, one computation: `pipeline serve` answers every page question from an
//! answer computed at most once a second, single-flight, so the ClickHouse statements it
//! runs do not grow with the audience. Measured from ClickHouse's own `system.query_log`
//! (serve names its statements `serve.<pid>.…`): one open page and one API poller, then
//! 200 open pages and 20 scripts polling the API as fast as they can, while events flow.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{generate_seeded, pipeline_ok, Server};
use serde::Deserialize;
use serde_json::Value;
use testkit::TestEnv;

/// How long each load runs.
const WINDOW: Duration = Duration::from_secs(12);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What one load saw from the client side.
#[derive(Default)]
struct Seen {
    /// Snapshots received per stream.
    snapshots: Vec<u64>,
    /// The oldest snapshot on arrival (ms since its oldest part was computed).
    snapshot_age_max_ms: u64,
    api_requests: u64,
    api_errors: u64,
    /// The largest `x-answer-age-ms` an API answer carried.
    api_age_max_ms: u64,
    /// The sales count the snapshots showed, first and last: data flowed meanwhile.
    sales_first: Option<u64>,
    sales_last: Option<u64>,
}

/// One open page: reads `/api/stream` for `window`, counting snapshots and their age.
async fn page(base: String, window: Duration) -> (u64, u64, Option<u64>, Option<u64>) {
    let deadline = tokio::time::Instant::now() + window;
    let mut r = reqwest::get(format!("{base}/api/stream?range=1h"))
        .await
        .expect("the stream answers");
    assert_eq!(r.status().as_u16(), 200);
    let (mut buf, mut n, mut age_max) = (String::new(), 0u64, 0u64);
    let (mut first, mut last) = (None, None);
    while let Ok(chunk) = tokio::time::timeout_at(deadline, r.chunk()).await {
        let chunk = chunk.expect("stream chunk").expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for snap in common::sse_snapshots(&mut buf) {
            n += 1;
            let at = snap["at_ms"]
                .as_u64()
                .expect("a snapshot says when it was made");
            age_max = age_max.max(unix_ms().saturating_sub(at));
            assert!(snap["error"].is_null(), "snapshot error: {}", snap["error"]);
            let sales = snap["status"]["sales_count"].as_u64();
            first = first.or(sales);
            last = sales.or(last);
        }
    }
    (n, age_max, first, last)
}

/// A script polling the API as fast as answers come, for `window`.
async fn poller(base: String, window: Duration, seen: Arc<(AtomicU64, AtomicU64, AtomicU64)>) {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < window {
        let path = ["/api/overview?range=1h", "/api/sales"][(i % 2) as usize];
        i += 1;
        match http.get(format!("{base}{path}")).send().await {
            Ok(r) if r.status().is_success() => {
                let age: u64 = r
                    .headers()
                    .get("x-answer-age-ms")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("GET {path}: no x-answer-age-ms header"));
                seen.2.fetch_max(age, Relaxed);
                let _: Value = r.json().await.expect("JSON");
            }
            _ => {
                seen.1.fetch_add(1, Relaxed);
            }
        }
        seen.0.fetch_add(1, Relaxed);
    }
}

async fn load(base: &str, pages: usize, pollers: usize) -> Seen {
    let api = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)));
    let pages: Vec<_> = (0..pages)
        .map(|_| tokio::spawn(page(base.to_string(), WINDOW)))
        .collect();
    let pollers: Vec<_> = (0..pollers)
        .map(|_| tokio::spawn(poller(base.to_string(), WINDOW, api.clone())))
        .collect();
    let mut seen = Seen::default();
    for p in pages {
        let (n, age, first, last) = p.await.unwrap();
        seen.snapshots.push(n);
        seen.snapshot_age_max_ms = seen.snapshot_age_max_ms.max(age);
        seen.sales_first = match (seen.sales_first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        seen.sales_last = seen.sales_last.max(last);
    }
    for p in pollers {
        p.await.unwrap();
    }
    seen.api_requests = api.0.load(Relaxed);
    seen.api_errors = api.1.load(Relaxed);
    seen.api_age_max_ms = api.2.load(Relaxed);
    seen
}

/// A child process killed when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Deserialize)]
struct Count {
    statements: u64,
}

/// Statements of this serve process that ClickHouse finished in `[from, to)` (Unix s).
async fn statements(env: &TestEnv, pid: u32, from: u64, to: u64) -> u64 {
    env.root()
        .execute("SYSTEM FLUSH LOGS")
        .await
        .expect("flush the query log");
    let sql = include_str!("sql/serve_statements.sql")
        .replace("{{prefix}}", &format!("'serve.{pid}.'"))
        .replace("{{from}}", &from.to_string())
        .replace("{{to}}", &to.to_string());
    env.root()
        .query_one::<Count>(&sql)
        .await
        .expect("read system.query_log")
        .statements
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_pages_cost_clickhouse_what_one_page_costs() {
    let env = TestEnv::new("viewers").await;
    // Small blocks: 18.16 writes a Kafka block only when it is full while messages keep
    // coming, and the loads below need figures that move.
    pipeline_ok(&env, &["schema", "apply", "--kafka-max-block-size", "50"]);
    generate_seeded(&env, 7, 2000, &[]);
    let server = Server::start(env.pipeline_args()).await;
    // Events keep flowing during both loads, so every answer has something new to show.
    let flow = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(env.pipeline_args())
            .args(["generate", "--rate", "100", "--seed", "8"])
            .env("PIPELINE_LOG", "error")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the generator starts"),
    );
    // Measure once the seeded events are queryable (18.16 writes a Kafka block every
    // 7.5 s at the latest), so each answer has figures that move.
    testkit::wait_for(
        "the seeded sales on the page",
        Duration::from_secs(60),
        || async {
            let st = server.json("/api/status", 200).await;
            (st["sales_count"].as_u64() > Some(0)).then_some(())
        },
    )
    .await;

    let mut runs = Vec::new();
    for (pages, pollers) in [(1, 1), (200, 20)] {
        // Whole seconds: query_log's event_time has no finer grain.
        let from = unix_ms() / 1000 + 1;
        tokio::time::sleep(Duration::from_millis(from * 1000 - unix_ms())).await;
        let seen = load(&server.base, pages, pollers).await;
        let to = unix_ms() / 1000;
        let n = statements(&env, server.pid(), from, to).await;
        let per_s = n as f64 / (to - from) as f64;
        println!(
            "{pages} pages + {pollers} pollers over {} s: {n} statements ({per_s:.1}/s), \
             {} API requests ({} failed, oldest answer {} ms), snapshots per page min {} \
             (oldest on arrival {} ms), sales shown {:?} → {:?}",
            to - from,
            seen.api_requests,
            seen.api_errors,
            seen.api_age_max_ms,
            seen.snapshots.iter().min().unwrap(),
            seen.snapshot_age_max_ms,
            seen.sales_first,
            seen.sales_last
        );
        runs.push((pages, per_s, seen));
    }
    drop(flow);

    let (_, one, _) = &runs[0];
    let (_, many, seen) = &runs[1];
    assert!(*one > 0.0, "serve's statements are in system.query_log");
    // The same questions are asked in both loads (the 1h page, the 1h overview and the
    // sales), each answered once per second; an answer that expires just inside or just
    // outside a window moves the count by a statement or two per question, hence 15 %.
    assert!(
        *many <= one * 1.15 && *many >= one * 0.85,
        "ClickHouse statements per second: {one:.1} for one page, {many:.1} for 200 pages \
         and 20 pollers: the work must not depend on the audience"
    );
    assert_eq!(seen.api_errors, 0, "API requests failed under load");
    assert!(
        seen.api_requests > 200,
        "the pollers got answers as fast as they asked ({} in {WINDOW:?})",
        seen.api_requests
    );
    // One push a second, each a snapshot at most a second old plus its computation: under
    // 200 streams on 2 cores, 10 of 12 and 2.5 s leave room for scheduling, not for a
    // second computation per viewer.
    let least = *seen.snapshots.iter().min().unwrap();
    assert!(
        least >= 10,
        "every page got a snapshot each second: the slowest got {least} in {WINDOW:?}"
    );
    assert!(
        seen.snapshot_age_max_ms <= 2500,
        "snapshots arrive about a second old at most: the oldest was {} ms",
        seen.snapshot_age_max_ms
    );
    assert!(
        seen.api_age_max_ms <= 2000,
        "API answers are about a second old at most: the oldest was {} ms",
        seen.api_age_max_ms
    );
    assert!(
        seen.sales_last > seen.sales_first,
        "the figures moved while events flowed: {:?} → {:?}",
        seen.sales_first,
        seen.sales_last
    );
    env.drop_database().await;
}
