//! Viewers: the dashboard server under an audience — many open pages (SSE streams on
//! `/api/stream`) and scripts polling the API — and what that audience costs ClickHouse.
//!
//! A fresh database is loaded exactly as the [`api`](crate::api) phase loads one (the
//! schema by the caller's [`SchemaApply`], raw rows in SQL, rollups back-filled, hours
//! sealed by the reconcile loop's code), and the real `pipeline serve` is started on it as
//! a child process on a free port (see [`ServeCommand`]). From this process, then:
//!
//! 1. **idle**: nobody connected for one window (the server's own health polling);
//! 2. **one viewer per range**, one after another: one SSE client on `?range=<r>` for one
//!    window each — the ClickHouse cost of one viewer's snapshots for that range;
//! 3. **N viewers**: `clients` SSE clients on the page's default range, their connections
//!    spread over one second; once each has its first snapshot, one window with nothing else;
//! 4. **N viewers + HTTP load**: for `duration`, `http_connections` loops more, each on a
//!    connection of its own, GET `/api/overview` and `/api/sales` alternately, back to back.
//!
//! Measured: snapshots each SSE client received during (4), errors of every kind (counted,
//! not asserted: failed connections, non-2xx answers, streams that ended, snapshots whose
//! `error` is set, failed API requests), the API's latency under (4), the server's peak RSS
//! (`VmHWM` of /proc/<pid>/status) and CPU (utime + stime of /proc/<pid>/stat) over (4), and
//! from `system.query_log` the statements the server ran per second and their summed
//! `query_duration_ms` in each window. The server's statements are those whose query_id
//! starts `serve.<pid>.` (crates/serve names them so); with a server that does not name
//! them, those whose text names the bench database. 18.16 logs a statement only with
//! `log_queries=1`, which the server's profile does not set: the caller's [`ServeCommand`]
//! passes it in the ClickHouse URL (see crates/pipeline/src/commands/bench.rs).
//!
//! The database is dropped at the end, whatever happened (unless `keep`).

use clickhouse_http::template::Values;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clickhouse_http::Client;
use query::Range;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::api::{self, ApiOptions, LoadFigures, ServeChild, ServeCommand};
use crate::ingest::{IngestTarget, SchemaApply};
use crate::{fmt_num, median, PhaseReport, Table};

const SERVE_QUERIES_SQL: &str = include_str!("../sql/viewers/serve_queries.sql");
const FLUSH_LOGS_SQL: &str = include_str!("../sql/api/flush_logs.sql");

/// The targets: snapshots per client per 60 s, and ClickHouse statements/s with N
/// viewers against one viewer.
pub const TARGET_SNAPSHOTS_PER_MIN: f64 = 55.0;
pub const TARGET_QPS_RATIO: f64 = 1.10;
/// serve's peak RSS with the whole audience connected (the api phase's 50 MB is for its
/// dashboard load alone).
pub const TARGET_RSS_MB: f64 = 64.0;
/// The API endpoints of the HTTP load, requested alternately.
const LOAD_PATHS: [&str; 2] = ["/api/overview", "/api/sales"];
/// How long the N viewers may take to each get a first snapshot.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ViewersOptions {
    /// ClickHouse, any default database (queries name the bench database).
    pub clickhouse: Client,
    /// Events bulk-loaded (as the api phase loads them).
    pub events: u64,
    /// SSE clients of the main run.
    pub clients: u32,
    /// The main run (N viewers + HTTP load).
    pub duration: Duration,
    /// Each of the other windows (idle, one viewer per range, N viewers alone).
    pub window: Duration,
    /// One viewer on each of these, one after another, for the cost per range.
    pub ranges: Vec<Range>,
    /// Connections of the HTTP load (0: none).
    pub http_connections: u32,
    pub load_chunk: u64,
    pub settle: Duration,
    /// The database is `<prefix>_<events>`.
    pub database_prefix: String,
    pub keep: bool,
    pub sales_topic: String,
    pub warehouse_topic: String,
}

/// One measured window: the server's ClickHouse statements in it.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub label: String,
    /// SSE clients open (on `range`) and HTTP load connections during the window.
    pub viewers: u32,
    pub range: Option<String>,
    pub http_connections: u32,
    /// Whole seconds [from, to), Unix time.
    pub from: u64,
    pub to: u64,
    pub statements: u64,
    pub statements_per_s: f64,
    /// Statements ClickHouse failed (query_log types 3 and 4).
    pub failed: u64,
    /// Sum of query_duration_ms: ClickHouse ms per second of the window.
    pub clickhouse_ms: u64,
    pub clickhouse_ms_per_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors {
    /// SSE connections that failed or were refused (non-2xx).
    pub connect: u64,
    /// SSE streams that ended or failed before the bench closed them.
    pub dropped: u64,
    /// Snapshots whose `error` is set (a ClickHouse statement failed), or unreadable.
    pub snapshot: u64,
    /// API requests of the HTTP load that failed or answered non-2xx.
    pub http: u64,
    pub total: u64,
    /// The first few, as they happened.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointLatency {
    pub path: String,
    pub requests: usize,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewersRun {
    pub events: u64,
    pub database: String,
    pub load: LoadFigures,
    pub clients: u32,
    /// Clients that got a first snapshot, and when the last of them did (from the first
    /// connection attempt).
    pub connected: u32,
    pub connect_s: f64,
    pub duration_s: f64,
    /// Snapshots per client during the main run.
    pub snapshots_min: u64,
    pub snapshots_median: f64,
    pub snapshots_max: u64,
    /// The target scaled to the run's length (55 per 60 s).
    pub snapshots_target: f64,
    pub errors: Errors,
    pub api: Vec<EndpointLatency>,
    /// VmHWM of the server at the end (its peak RSS over its whole life).
    pub serve_peak_rss_mb: f64,
    pub serve_rss_end_mb: f64,
    /// utime + stime of the server over the main run, and that per second of it.
    pub serve_cpu_s: f64,
    pub serve_cpu_share: f64,
    /// This process (the SSE clients and the HTTP load) over the main run.
    pub bench_cpu_s: f64,
    /// How the server's statements were found: "query_id prefix serve.<pid>." or "text
    /// naming the database".
    pub counted_by: String,
    pub windows: Vec<Window>,
    /// Statements/s with N viewers (alone, and with the HTTP load) over one viewer on the
    /// same range.
    pub qps_ratio_viewers: Option<f64>,
    pub qps_ratio_with_http: Option<f64>,
    /// Open-files limit of this process (the server inherits it): before, after raising.
    pub nofile_soft_before: u64,
    pub nofile_soft: u64,
    pub nofile_hard: u64,
}

fn unix_f() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Raises this process's soft limit on open files to `wanted` (at most the hard limit);
/// returns (soft before, soft after, hard).
fn raise_open_files(wanted: u64) -> (u64, u64, u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return (0, 0, 0);
    }
    let (before, hard) = (r.rlim_cur as u64, r.rlim_max as u64);
    if before >= wanted {
        return (before, before, hard);
    }
    r.rlim_cur = wanted.min(hard) as libc::rlim_t;
    let after = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
        r.rlim_cur as u64
    } else {
        before
    };
    (before, after, hard)
}

/// A /proc/<pid>/status field in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What all clients share: error counters and the first few messages.
#[derive(Default)]
struct Shared {
    connect: AtomicU64,
    dropped: AtomicU64,
    snapshot: AtomicU64,
    http: AtomicU64,
    examples: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, counter: &AtomicU64, what: impl FnOnce() -> String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut e = self.examples.lock().expect("examples lock");
        if e.len() < 5 {
            e.push(what());
        }
    }

    fn errors(&self) -> Errors {
        let (connect, dropped, snapshot, http) = (
            self.connect.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.snapshot.load(Ordering::Relaxed),
            self.http.load(Ordering::Relaxed),
        );
        Errors {
            connect,
            dropped,
            snapshot,
            http,
            total: connect + dropped + snapshot + http,
            examples: self.examples.lock().expect("examples lock").clone(),
        }
    }
}

/// One SSE client's figures.
struct Viewer {
    snapshots: AtomicU64,
    /// Set when the first snapshot arrived.
    first: Mutex<Option<Instant>>,
    /// The stream ended (closed, failed or never opened).
    done: std::sync::atomic::AtomicBool,
}

impl Viewer {
    fn new() -> Arc<Self> {
        Arc::new(Viewer {
            snapshots: AtomicU64::new(0),
            first: Mutex::new(None),
            done: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// The top level of a snapshot: only `error` is read.
#[derive(Deserialize)]
struct SnapshotError {
    #[serde(default)]
    error: Option<String>,
}

/// Handles one SSE event (the text before its blank line).
fn on_event(event: &[u8], v: &Viewer, shared: &Shared) {
    let mut name: &[u8] = b"message";
    let mut data: Vec<u8> = Vec::new();
    for line in event.split(|&b| b == b'\n') {
        if let Some(n) = line.strip_prefix(b"event:") {
            name = n.strip_prefix(b" ").unwrap_or(n);
        } else if let Some(d) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
        }
    }
    if name != b"snapshot" {
        return; // keep-alive comments
    }
    if v.snapshots.fetch_add(1, Ordering::Relaxed) == 0 {
        *v.first.lock().expect("first lock") = Some(Instant::now());
    }
    match serde_json::from_slice::<SnapshotError>(&data) {
        Ok(SnapshotError { error: None }) => {}
        Ok(SnapshotError { error: Some(e) }) => {
            shared.error(&shared.snapshot, || format!("snapshot error: {e}"))
        }
        Err(e) => shared.error(&shared.snapshot, || {
            format!("unreadable snapshot ({e}), {} bytes", data.len())
        }),
    }
}

/// One SSE client until `stop`.
async fn view(
    http: reqwest::Client,
    url: String,
    v: Arc<Viewer>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let resp = tokio::select! {
        r = http.get(&url).header("accept", "text/event-stream").send() => r,
        _ = stop.changed() => { v.done.store(true, Ordering::Relaxed); return }
    };
    let mut resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            let s = r.status();
            shared.error(&shared.connect, || format!("GET {url}: {s}"));
            v.done.store(true, Ordering::Relaxed);
            return;
        }
        Err(e) => {
            shared.error(&shared.connect, || format!("GET {url}: {e}"));
            v.done.store(true, Ordering::Relaxed);
            return;
        }
    };
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let chunk = tokio::select! {
            c = resp.chunk() => c,
            _ = stop.changed() => break,
        };
        match chunk {
            Ok(Some(bytes)) => {
                let scan_from = buf.len().saturating_sub(1);
                buf.extend_from_slice(&bytes);
                let mut start = 0;
                let mut i = scan_from;
                while let Some(p) = find(&buf[i..], b"\n\n") {
                    let end = i + p;
                    on_event(&buf[start..end], &v, &shared);
                    start = end + 2;
                    i = start;
                }
                buf.drain(..start);
            }
            Ok(None) => {
                shared.error(&shared.dropped, || format!("{url}: the stream ended"));
                break;
            }
            Err(e) => {
                shared.error(&shared.dropped, || format!("{url}: {e}"));
                break;
            }
        }
    }
    v.done.store(true, Ordering::Relaxed);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One connection of the HTTP load until `stop`: (path index, ms) per successful request.
async fn poll_api(
    base: String,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Vec<(usize, f64)> {
    let http = match reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            shared.error(&shared.http, || format!("building an HTTP client: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut k = 0;
    while !*stop.borrow() {
        let i = k % LOAD_PATHS.len();
        k += 1;
        let url = format!("{base}{}", LOAD_PATHS[i]);
        let t = Instant::now();
        let r = async {
            let resp = http.get(&url).send().await?;
            let status = resp.status();
            resp.bytes().await.map(|_| status)
        }
        .await;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        match r {
            Ok(s) if s.is_success() => out.push((i, ms)),
            Ok(s) => shared.error(&shared.http, || format!("GET {url}: {s}")),
            Err(e) => shared.error(&shared.http, || format!("GET {url}: {e}")),
        }
    }
    out
}

/// A running set of SSE clients.
struct Audience {
    viewers: Vec<Arc<Viewer>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Audience {
    /// `n` clients on `url`, their connections spread evenly over `ramp`.
    fn open(
        http: &reqwest::Client,
        url: &str,
        n: u32,
        ramp: Duration,
        shared: &Arc<Shared>,
    ) -> Self {
        let (stop, rx) = watch::channel(false);
        let mut viewers = Vec::with_capacity(n as usize);
        let mut tasks = Vec::with_capacity(n as usize);
        for i in 0..n {
            let v = Viewer::new();
            viewers.push(v.clone());
            let delay = ramp.mul_f64(i as f64 / n.max(1) as f64);
            let (http, url, shared, rx) =
                (http.clone(), url.to_string(), shared.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                view(http, url, v, shared, rx).await
            }));
        }
        Audience {
            viewers,
            tasks,
            stop,
        }
    }

    /// Waits until every client has a first snapshot or has ended; `false` on timeout.
    async fn connected(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let waiting = self.viewers.iter().any(|v| {
                v.snapshots.load(Ordering::Relaxed) == 0 && !v.done.load(Ordering::Relaxed)
            });
            if !waiting {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn counts(&self) -> Vec<u64> {
        self.viewers
            .iter()
            .map(|v| v.snapshots.load(Ordering::Relaxed))
            .collect()
    }

    async fn close(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// A window's whole seconds, from marks taken around it.
fn whole_seconds(start: f64, end: f64) -> (u64, u64) {
    let from = start.ceil() as u64;
    let to = (end.floor() as u64).max(from + 1);
    (from, to)
}

struct Mark {
    label: String,
    viewers: u32,
    range: Option<Range>,
    http_connections: u32,
    from: u64,
    to: u64,
}

/// Sleeps through one window and marks it.
async fn window(
    label: impl Into<String>,
    viewers: u32,
    range: Option<Range>,
    http_connections: u32,
    length: Duration,
) -> Mark {
    let start = unix_f();
    tokio::time::sleep(length).await;
    let (from, to) = whole_seconds(start, unix_f());
    Mark {
        label: label.into(),
        viewers,
        range,
        http_connections,
        from,
        to,
    }
}

pub async fn run(
    opts: &ViewersOptions,
    applier: &dyn SchemaApply,
    serve: &dyn ServeCommand,
) -> anyhow::Result<PhaseReport> {
    if opts.events == 0 || opts.clients == 0 || opts.load_chunk == 0 {
        bail!("the viewers phase needs at least 1 event, 1 client and a load chunk of 1 or more");
    }
    if opts.window < Duration::from_secs(2) || opts.duration < Duration::from_secs(2) {
        bail!(
            "the viewers phase's windows and duration are 2 s or more (whole seconds are counted)"
        );
    }
    let version = opts
        .clickhouse
        .version()
        .await
        .context("asking ClickHouse for its version")?;
    let dialect = schema::Dialect::for_version(version).map_err(anyhow::Error::msg)?;
    let target = IngestTarget {
        database: format!("{}_{}", opts.database_prefix, opts.events),
        sales_topic: opts.sales_topic.clone(),
        warehouse_topic: opts.warehouse_topic.clone(),
        consumers: 1,
        partitions: 1,
        max_block_size: 65_536,
    };
    let result = measure(
        opts,
        applier,
        serve,
        &target,
        dialect == schema::Dialect::Current,
    )
    .await;
    let dropped = if opts.keep {
        eprintln!(
            "viewers: kept database {} (drop it when done: its Kafka tables poll their topics)",
            target.database
        );
        Ok(())
    } else {
        crate::ingest::drop_database(&opts.clickhouse, &target.database).await
    };
    let run = result.with_context(|| format!("viewers at {} events", opts.events))?;
    dropped?;
    Ok(report(opts, &version.to_string(), run))
}

async fn measure(
    opts: &ViewersOptions,
    applier: &dyn SchemaApply,
    serve: &dyn ServeCommand,
    target: &IngestTarget,
    cascading_views: bool,
) -> anyhow::Result<ViewersRun> {
    let db = &target.database;
    let client = &opts.clickhouse;
    applier.apply(target).await.context("applying the schema")?;
    let disk = api::disk_check(client, db, opts.events, 120.0).await;
    if let Some(free) = disk.free_bytes {
        if free < disk.needed_bytes {
            bail!(
                "{} events need about {:.1} GB on {}, {:.1} GB free",
                opts.events,
                disk.needed_bytes as f64 / 1e9,
                disk.path.as_deref().unwrap_or("ClickHouse's disk"),
                free as f64 / 1e9
            );
        }
    }
    let api_opts = ApiOptions {
        clickhouse: client.clone(),
        sizes: vec![opts.events],
        requests: 1,
        warmup: 0,
        budget: Duration::from_secs(1),
        load_chunk: opts.load_chunk,
        settle: opts.settle,
        database_prefix: opts.database_prefix.clone(),
        keep: opts.keep,
        sales_topic: opts.sales_topic.clone(),
        warehouse_topic: opts.warehouse_topic.clone(),
    };
    tracing::info!(events = opts.events, database = %db, "viewers: loading");
    let load = api::load(&api_opts, db, opts.events, cascading_views).await?;
    tracing::info!(seconds = load.total_s, "viewers: loaded");

    // Each SSE client is a socket here and one in the server (which inherits the limit).
    let wanted = 2 * (opts.clients as u64 + opts.http_connections as u64) + 1024;
    let (nofile_soft_before, nofile_soft, nofile_hard) = raise_open_files(wanted);
    if nofile_soft < wanted {
        tracing::warn!(
            nofile_soft,
            wanted,
            "the open-files limit is below what the viewers need: expect connection errors"
        );
    }

    // Ready once it answers from memory: /healthz asks ClickHouse's /ping, which a URL
    // carrying settings does not reach.
    let mut child = ServeChild::start_ready(serve, db, "/api/health").await?;
    let pid = child.pid();
    let base = child.base.clone();
    let sse = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .context("building the HTTP client")?;
    let shared = Arc::new(Shared::default());
    let main_range = Range::default();

    let measured = async {
        let mut marks = Vec::new();
        marks.push(window("idle (no viewer)", 0, None, 0, opts.window).await);
        // The default range first: the ratio's one viewer.
        let mut ranges = vec![main_range];
        ranges.extend(opts.ranges.iter().filter(|&&r| r != main_range));
        for r in ranges {
            let url = format!("{base}/api/stream?range={r}");
            let one = Audience::open(&sse, &url, 1, Duration::ZERO, &shared);
            if !one.connected(Duration::from_secs(30)).await || one.counts()[0] == 0 {
                one.close().await;
                bail!("one viewer on range {r} got no snapshot within 30 s");
            }
            marks.push(window(format!("1 viewer, {r}"), 1, Some(r), 0, opts.window).await);
            one.close().await;
        }

        let url = format!("{base}/api/stream");
        let t0 = Instant::now();
        let crowd = Audience::open(&sse, &url, opts.clients, Duration::from_secs(1), &shared);
        let all = crowd.connected(CONNECT_TIMEOUT).await;
        let firsts: Vec<Instant> = crowd
            .viewers
            .iter()
            .filter_map(|v| *v.first.lock().expect("first lock"))
            .collect();
        let connected = firsts.len() as u32;
        let connect_s = firsts
            .iter()
            .map(|t| (*t - t0).as_secs_f64())
            .fold(0.0, f64::max);
        if !all {
            tracing::warn!(
                connected,
                clients = opts.clients,
                "not every viewer got a snapshot in time"
            );
        }
        marks.push(
            window(
                format!("{} viewers, {main_range}", opts.clients),
                opts.clients,
                Some(main_range),
                0,
                opts.window,
            )
            .await,
        );

        // The main run: N viewers + the HTTP load.
        let (stop_load, rx) = watch::channel(false);
        let before = crowd.counts();
        let cpu0 = crate::measure::other_process_cpu(pid);
        let own0 = crate::measure::process_cpu();
        let start = unix_f();
        let started = Instant::now();
        let loops: Vec<_> = (0..opts.http_connections)
            .map(|_| tokio::spawn(poll_api(base.clone(), shared.clone(), rx.clone())))
            .collect();
        tokio::time::sleep(opts.duration).await;
        let after = crowd.counts();
        let cpu1 = crate::measure::other_process_cpu(pid);
        let own1 = crate::measure::process_cpu();
        let elapsed = started.elapsed().as_secs_f64();
        let (from, to) = whole_seconds(start, unix_f());
        let _ = stop_load.send(true);
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); LOAD_PATHS.len()];
        for l in loops {
            for (i, ms) in l.await.unwrap_or_default() {
                samples[i].push(ms);
            }
        }
        marks.push(Mark {
            label: format!(
                "{} viewers + {} HTTP connections",
                opts.clients, opts.http_connections
            ),
            viewers: opts.clients,
            range: Some(main_range),
            http_connections: opts.http_connections,
            from,
            to,
        });
        let rss_end = status_kib(pid, "VmRSS:");
        crowd.close().await;
        let per_client: Vec<u64> = after
            .iter()
            .zip(&before)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let api: Vec<EndpointLatency> = LOAD_PATHS
            .iter()
            .zip(samples)
            .map(|(p, mut v)| {
                v.sort_by(|a, b| a.total_cmp(b));
                EndpointLatency {
                    path: p.to_string(),
                    requests: v.len(),
                    requests_per_s: v.len() as f64 / elapsed,
                    p50_ms: median(v.iter().copied()).unwrap_or(f64::NAN),
                    p99_ms: api::percentile(&v, 99.0),
                    max_ms: v.last().copied().unwrap_or(f64::NAN),
                }
            })
            .collect();
        let cpu = match (cpu0, cpu1) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => f64::NAN,
        };
        anyhow::Ok((
            marks,
            connected,
            connect_s,
            per_client,
            api,
            cpu,
            (own1 - own0).as_secs_f64(),
            elapsed,
            rss_end,
        ))
    }
    .await;
    let hwm = status_kib(pid, "VmHWM:");
    let exited = child.exited();
    let log = child.log_tail();
    drop(child);
    let (marks, connected, connect_s, per_client, api, cpu, own_cpu, elapsed, rss_end) = measured?;
    if let Some(status) = exited {
        bail!("pipeline serve exited during the measurement ({status}): {log}");
    }

    let (windows, counted_by) = server_windows(client, db, pid, &marks).await?;
    let qps = |label_viewers: u32, http: u32, range: Option<Range>| {
        windows
            .iter()
            .find(|w| {
                w.viewers == label_viewers
                    && w.http_connections == http
                    && w.range.as_deref() == range.map(|r| r.as_str())
            })
            .map(|w| w.statements_per_s)
    };
    let one = qps(1, 0, Some(main_range));
    let ratio = |n: Option<f64>| match (n, one) {
        (Some(n), Some(o)) if o > 0.0 => Some(n / o),
        _ => None,
    };
    let qps_ratio_viewers = ratio(qps(opts.clients, 0, Some(main_range)));
    let qps_ratio_with_http = ratio(qps(opts.clients, opts.http_connections, Some(main_range)));

    let mut sorted = per_client.clone();
    sorted.sort_unstable();
    Ok(ViewersRun {
        events: opts.events,
        database: db.clone(),
        load,
        clients: opts.clients,
        connected,
        connect_s,
        duration_s: elapsed,
        snapshots_min: sorted.first().copied().unwrap_or(0),
        snapshots_median: median(sorted.iter().map(|&x| x as f64)).unwrap_or(0.0),
        snapshots_max: sorted.last().copied().unwrap_or(0),
        snapshots_target: TARGET_SNAPSHOTS_PER_MIN * elapsed / 60.0,
        errors: shared.errors(),
        api,
        serve_peak_rss_mb: hwm.map_or(f64::NAN, |k| k as f64 / 1024.0),
        serve_rss_end_mb: rss_end.map_or(f64::NAN, |k| k as f64 / 1024.0),
        serve_cpu_s: cpu,
        serve_cpu_share: cpu / elapsed,
        bench_cpu_s: own_cpu,
        counted_by,
        windows,
        qps_ratio_viewers,
        qps_ratio_with_http,
        nofile_soft_before,
        nofile_soft,
        nofile_hard,
    })
}

#[derive(Deserialize)]
struct Second {
    second: u64,
    by_prefix: u64,
    by_prefix_ms: u64,
    by_prefix_failed: u64,
    by_db: u64,
    by_db_ms: u64,
    by_db_failed: u64,
}

/// The server's statements per window, from `system.query_log`.
async fn server_windows(
    client: &Client,
    db: &str,
    pid: u32,
    marks: &[Mark],
) -> anyhow::Result<(Vec<Window>, String)> {
    client
        .execute(&api::render(
            "api/flush_logs.sql",
            FLUSH_LOGS_SQL,
            &Values::new(),
        )?)
        .await
        .context("flushing ClickHouse's query log")?;
    let from = marks.iter().map(|m| m.from).min().unwrap_or(0);
    let to = marks.iter().map(|m| m.to).max().unwrap_or(0);
    let prefix = format!("serve.{pid}.");
    let values = api::db_values(db)?
        .string("prefix", prefix.as_str())
        .int("from", from)
        .int("to", to);
    let sql = api::render("viewers/serve_queries.sql", SERVE_QUERIES_SQL, &values)?;
    let rows: Vec<Second> = client
        .query(&sql)
        .await
        .context("reading system.query_log (is <query_log> in the server's config?)")?;
    let by_prefix = rows.iter().any(|r| r.by_prefix > 0);
    let counted_by = if by_prefix {
        format!("query_id prefix {prefix}")
    } else {
        format!("statements naming {db} (no query_id with prefix {prefix})")
    };
    let windows = marks
        .iter()
        .map(|m| {
            let (mut n, mut ms, mut failed) = (0, 0, 0);
            for r in rows
                .iter()
                .filter(|r| r.second >= m.from && r.second < m.to)
            {
                if by_prefix {
                    (n, ms, failed) = (
                        n + r.by_prefix,
                        ms + r.by_prefix_ms,
                        failed + r.by_prefix_failed,
                    );
                } else {
                    (n, ms, failed) = (n + r.by_db, ms + r.by_db_ms, failed + r.by_db_failed);
                }
            }
            let s = (m.to - m.from) as f64;
            Window {
                label: m.label.clone(),
                viewers: m.viewers,
                range: m.range.map(|r| r.to_string()),
                http_connections: m.http_connections,
                from: m.from,
                to: m.to,
                statements: n,
                statements_per_s: n as f64 / s,
                failed,
                clickhouse_ms: ms,
                clickhouse_ms_per_s: ms as f64 / s,
            }
        })
        .collect();
    Ok((windows, counted_by))
}

fn ratio_cell(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}"))
}

fn report(opts: &ViewersOptions, server: &str, r: ViewersRun) -> PhaseReport {
    let mut table = Table::new(&["figure", "measured", "target"]);
    let n = opts.clients;
    table.row(vec![
        "SSE clients with a snapshot / opened".into(),
        format!(
            "{} / {n} (last first snapshot after {:.1} s)",
            r.connected, r.connect_s
        ),
        String::new(),
    ]);
    let e = &r.errors;
    table.row(vec![
        "errors: connect, dropped, snapshot, HTTP".into(),
        format!(
            "{} ({}, {}, {}, {})",
            e.total, e.connect, e.dropped, e.snapshot, e.http
        ),
        "0".into(),
    ]);
    table.row(vec![
        format!(
            "snapshots per client in {:.0} s: min / median / max",
            r.duration_s
        ),
        format!(
            "{} / {} / {}",
            r.snapshots_min, r.snapshots_median, r.snapshots_max
        ),
        format!("≥ {:.1}", r.snapshots_target),
    ]);
    for a in &r.api {
        table.row(vec![
            format!("{} p50 / p99 / max ms", a.path),
            format!(
                "{} / {} / {} ({} req/s)",
                api::ms(a.p50_ms),
                api::ms(a.p99_ms),
                api::ms(a.max_ms),
                fmt_num(Some(a.requests_per_s), 0)
            ),
            String::new(),
        ]);
    }
    table.row(vec![
        "serve peak RSS (VmHWM) MB".into(),
        format!(
            "{:.1} (at the end {:.1})",
            r.serve_peak_rss_mb, r.serve_rss_end_mb
        ),
        format!("≤ {TARGET_RSS_MB}"),
    ]);
    table.row(vec![
        "serve CPU s over the run (share of one core)".into(),
        format!("{:.2} ({:.0} %)", r.serve_cpu_s, r.serve_cpu_share * 100.0),
        String::new(),
    ]);
    for w in &r.windows {
        table.row(vec![
            format!("ClickHouse by serve, {}: statements/s, ms/s", w.label),
            format!(
                "{:.1}, {:.1}{}",
                w.statements_per_s,
                w.clickhouse_ms_per_s,
                if w.failed > 0 {
                    format!(" ({} failed)", w.failed)
                } else {
                    String::new()
                }
            ),
            String::new(),
        ]);
    }
    table.row(vec![
        format!("statements/s: {n} viewers / 1 viewer"),
        ratio_cell(r.qps_ratio_viewers),
        format!("≤ {TARGET_QPS_RATIO:.2}"),
    ]);
    table.row(vec![
        format!("statements/s: {n} viewers + HTTP load / 1 viewer"),
        ratio_cell(r.qps_ratio_with_http),
        String::new(),
    ]);

    let idle = r.windows.first().map_or(0.0, |w| w.clickhouse_ms_per_s);
    let per_range: Vec<String> = r
        .windows
        .iter()
        .filter(|w| w.viewers == 1)
        .map(|w| {
            format!(
                "{} {:.1} ms/s",
                w.range.as_deref().unwrap_or("?"),
                w.clickhouse_ms_per_s - idle
            )
        })
        .collect();
    let l = &r.load;
    let mut notes = vec![
        format!(
            "ClickHouse {server} · {} events loaded in {:.1} s ({} hours sealed) · the real `pipeline serve`, pid-named statements counted by {}",
            fmt_num(Some(r.events as f64), 0),
            l.total_s,
            l.hours_sealed,
            r.counted_by
        ),
        format!(
            "windows of {:?}: idle, one viewer per range one after another, {n} viewers alone on the default range ({}); \
             then {n} viewers + {} connections GET {} alternately, back to back, for {:.1} s",
            opts.window,
            Range::default(),
            opts.http_connections,
            LOAD_PATHS.join(" and "),
            r.duration_s
        ),
        format!(
            "one snapshot per second, its ClickHouse cost over idle (sum of query_duration_ms per second): {}",
            per_range.join(", ")
        ),
        format!(
            "this process (SSE clients + HTTP load) used {:.2} s CPU over the run; open-files limit {} (was {}, hard {})",
            r.bench_cpu_s, r.nofile_soft, r.nofile_soft_before, r.nofile_hard
        ),
    ];
    if !r.errors.examples.is_empty() {
        notes.push(format!("first errors: {}", r.errors.examples.join(" | ")));
    }
    let json = serde_json::json!({
        "clickhouse": server,
        "targets": {
            "snapshots_per_60s": TARGET_SNAPSHOTS_PER_MIN,
            "qps_ratio": TARGET_QPS_RATIO,
            "rss_mb": TARGET_RSS_MB,
        },
        "window_s": opts.window.as_secs_f64(),
        "http_connections": opts.http_connections,
        "ranges": opts.ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "run": r,
    });
    PhaseReport {
        name: "viewers",
        title: format!(
            "viewers: {n} SSE clients + {} API connections on `pipeline serve`, and what they cost ClickHouse",
            opts.http_connections
        ),
        table,
        notes,
        json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_renders() {
        let v = api::db_values("bench_1")
            .unwrap()
            .string("prefix", "serve.42.")
            .int("from", 1)
            .int("to", 2);
        let s = api::render("serve_queries", SERVE_QUERIES_SQL, &v).unwrap();
        assert!(s.contains("'serve.42.'") && s.contains("'bench_1'") && !s.contains("{{"));
    }

    #[test]
    fn events_are_read_across_chunks() {
        let v = Viewer::new();
        let shared = Shared::default();
        on_event(
            b"event: snapshot\ndata: {\"a\":1,\"error\":null}",
            &v,
            &shared,
        );
        on_event(b":", &v, &shared);
        on_event(b"event: snapshot\ndata: {\"error\":\"boom\"}", &v, &shared);
        assert_eq!(v.snapshots.load(Ordering::Relaxed), 2);
        assert_eq!(shared.errors().snapshot, 1);
        assert_eq!(find(b"ab\n\ncd", b"\n\n"), Some(2));
        assert_eq!(whole_seconds(10.2, 15.9), (11, 15));
        assert_eq!(whole_seconds(10.2, 10.9), (11, 12));
    }
}
