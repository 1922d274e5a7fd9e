//! API: the dashboard API's latency per endpoint at a given volume of events, side by side
//! with the original demo's SQL on the raw tables, and the dashboard server's memory.
//!
//! For each size (number of events) a fresh database gets the schema — applied by the
//! caller's [`SchemaApply`], i.e. exactly what `pipeline schema apply` does, on fresh topics
//! — and is bulk-loaded in SQL (`sql/api/load_*.sql`: `INSERT … SELECT … FROM numbers()`,
//! in chunks, events spread over the last 7 days with the generator's mix and catalogue).
//! The rollups are then filled from those rows as migration 0004 back-fills them
//! (`sql/api/fill_*.sql`, one time window at a time so 18.16's memory stays bounded); on
//! servers whose views cascade the ingest views fill them during the load instead. Last,
//! the reconcile loop's own code (`reconcile::rollups::Rollups`, as `pipeline up` runs it)
//! checks every minute and seals the hour tiers the page reads for long ranges.
//!
//! Then the real dashboard server (`pipeline serve`, a child process, see [`ServeCommand`])
//! is started on that database and every endpoint the page uses is requested sequentially
//! over one keep-alive connection: warm-up, then up to `requests` timed requests (fewer if
//! `budget` runs out first; the count is reported). The original demo's queries
//! (`sql/original/*.sql`, reconstructed from docs/contract.md's API) are timed the same way over
//! ClickHouse's HTTP interface. The server's VmRSS is sampled every 10 ms meanwhile.
//!
//! Last, one more call of each (the same code: `query::Queries` as the server runs it, and
//! the original SQL) runs with `log_queries=1` and its own query_id, and ClickHouse's own
//! figures (rows and bytes read, duration, memory) are read from `system.query_log`: what
//! each answer costs the server, and how that grows with the volume.
//!
//! Each database is dropped after its size, whatever happened; the topics stay (deleting a
//! topic on tansu 0.6 deletes them all). A size the disk cannot hold is reported as skipped
//! with the figures that decided it.

use std::collections::{BTreeMap, BTreeSet};

use clickhouse_http::template::Values;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clickhouse_http::{quote, template, Client};
use generate::{Catalogue, Locale};
use query::{Queries, Range};
use serde::{Deserialize, Serialize};

use crate::ingest::{IngestTarget, SchemaApply};
use crate::{fmt_num, median, PhaseReport, Table};

const LOAD_SALES_SQL: &str = include_str!("../sql/api/load_sales.sql");
const LOAD_STOCK_MOVEMENTS_SQL: &str = include_str!("../sql/api/load_stock_movements.sql");
const FILL_SALES_BY_MINUTE_SQL: &str = include_str!("../sql/api/fill_sales_by_minute.sql");
const FILL_STOCK_BY_MINUTE_SQL: &str = include_str!("../sql/api/fill_stock_by_minute.sql");
const FILL_STOCK_LEVELS_SQL: &str = include_str!("../sql/api/fill_stock_levels.sql");
const SERVER_NOW_SQL: &str = include_str!("../sql/api/server_now.sql");
const STORAGE_SQL: &str = include_str!("../sql/api/storage.sql");
const DATA_PATH_SQL: &str = include_str!("../sql/api/data_path.sql");
const FLUSH_LOGS_SQL: &str = include_str!("../sql/api/flush_logs.sql");
const QUERY_LOG_SQL: &str = include_str!("../sql/api/query_log.sql");

/// The events are spread over this many seconds before the load starts.
const SPAN_S: u64 = 7 * 86_400;
/// The targets.
pub const TARGET_P99_MS: f64 = 15.0;
pub const TARGET_RSS_MB: f64 = 50.0;
/// Bytes on disk per event assumed before a size has been measured (2M events here: 92).
const BYTES_PER_EVENT_GUESS: f64 = 120.0;
/// Timed requests per endpoint even when the budget is spent.
const MIN_SAMPLES: usize = 5;

/// Starts the dashboard server for one database: `pipeline serve --listen <listen>` with the
/// bench's connection settings. The bench sets stdio and kills the process when done.
pub trait ServeCommand {
    fn command(&self, database: &str, listen: SocketAddr) -> Command;
}

pub struct ApiOptions {
    /// ClickHouse, any default database (queries name the bench database).
    pub clickhouse: Client,
    /// Events per measured database, in order.
    pub sizes: Vec<u64>,
    /// Timed requests per endpoint (and per original query) and size.
    pub requests: u32,
    /// Untimed requests before them.
    pub warmup: u32,
    /// Time per endpoint and size after which timing stops (at least 5 requests).
    pub budget: Duration,
    /// Events per INSERT of the load (and per rollup window).
    pub load_chunk: u64,
    /// Wait at most this long for the load's merges to finish before measuring.
    pub settle: Duration,
    /// Databases are `<prefix>_<size>`.
    pub database_prefix: String,
    /// Leave each database in place after its size, to profile its queries by hand.
    pub keep: bool,
    pub sales_topic: String,
    pub warehouse_topic: String,
}

/// One endpoint the page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Overview(Range),
    Sales,
    Stock,
    RecentSales,
    Status,
    StockLevels,
    Health,
}

const ENDPOINTS: [Endpoint; 9] = [
    Endpoint::Overview(Range::H1),
    Endpoint::Overview(Range::H24),
    Endpoint::Overview(Range::D7),
    Endpoint::Sales,
    Endpoint::Stock,
    Endpoint::RecentSales,
    Endpoint::Status,
    Endpoint::StockLevels,
    Endpoint::Health,
];

impl Endpoint {
    fn path(self) -> String {
        match self {
            Endpoint::Overview(r) => format!("/api/overview?range={r}"),
            Endpoint::Sales => "/api/sales".into(),
            Endpoint::Stock => "/api/stock".into(),
            Endpoint::RecentSales => "/api/recent_sales".into(),
            Endpoint::Status => "/api/status".into(),
            Endpoint::StockLevels => "/api/stock_levels".into(),
            Endpoint::Health => "/api/health".into(),
        }
    }

    /// A query_id-safe name.
    fn key(self) -> String {
        match self {
            Endpoint::Overview(r) => format!("overview_{r}"),
            Endpoint::Sales => "sales".into(),
            Endpoint::Stock => "stock".into(),
            Endpoint::RecentSales => "recent_sales".into(),
            Endpoint::Status => "status".into(),
            Endpoint::StockLevels => "stock_levels".into(),
            Endpoint::Health => "health".into(),
        }
    }

    /// What the server runs for this endpoint, the same calls its handlers make; `false`
    /// when the endpoint asks ClickHouse nothing (health answers from memory).
    async fn run_queries(self, q: &Queries) -> anyhow::Result<bool> {
        let now = unix_now();
        match self {
            Endpoint::Overview(r) => q.overview(r, now).await.map(drop)?,
            Endpoint::Sales => q.sales_hourly().await.map(drop)?,
            Endpoint::Stock => q.stock_top(now).await.map(drop)?,
            Endpoint::RecentSales => q.recent_sales().await.map(drop)?,
            Endpoint::Status => q.status().await.map(drop)?,
            Endpoint::StockLevels => q.stock_levels(false).await.map(drop)?,
            Endpoint::Health => return Ok(false),
        }
        Ok(true)
    }
}

/// One query of the original demo, on the raw tables.
struct Original {
    name: &'static str,
    file: &'static str,
    source: &'static str,
    /// The endpoint of ours that answers the same question.
    pairs_with: &'static str,
}

const ORIGINAL: [Original; 4] = [
    Original {
        name: "sales_hourly",
        file: "original/sales_hourly.sql",
        source: include_str!("../sql/original/sales_hourly.sql"),
        pairs_with: "/api/sales",
    },
    Original {
        name: "stock_top",
        file: "original/stock_top.sql",
        source: include_str!("../sql/original/stock_top.sql"),
        pairs_with: "/api/stock",
    },
    Original {
        name: "recent_sales",
        file: "original/recent_sales.sql",
        source: include_str!("../sql/original/recent_sales.sql"),
        pairs_with: "/api/recent_sales",
    },
    Original {
        name: "status",
        file: "original/status.sql",
        source: include_str!("../sql/original/status.sql"),
        pairs_with: "/api/status",
    },
];

/// Latency of one endpoint or query at one size, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub name: String,
    /// For an original query: the endpoint of ours that answers the same question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs_with: Option<String>,
    /// Timed requests (fewer than asked when the budget ran out).
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Size of the last answer's body.
    pub body_bytes: usize,
    /// ClickHouse's own figures for one more call (`None` where nothing is asked of it).
    pub clickhouse: Option<ServerFigures>,
}

/// From `system.query_log`, summed over the statements one call makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerFigures {
    pub statements: u64,
    pub duration_ms: u64,
    pub read_rows: u64,
    pub read_bytes: u64,
    /// The largest of the statements'.
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    /// The events cover [start, end) (Unix seconds, the server's clock at the load's start).
    pub start: u64,
    pub end: u64,
    pub chunks: u64,
    /// The INSERT … SELECT of the raw rows.
    pub raw_s: f64,
    /// The rollups' back-fill (0 where the ingest views filled them during the load).
    pub rollups_s: f64,
    pub rollups_by_views: bool,
    /// The reconcile loop checking every minute and sealing the hour tiers.
    pub seal_s: f64,
    pub hours_sealed: u64,
    /// Waiting for the load's merges to finish.
    pub settle_s: f64,
    pub settled: bool,
    pub total_s: f64,
    pub sales_rows: u64,
    pub stock_movements_rows: u64,
    pub sales_parts: u64,
    pub stock_movements_parts: u64,
    pub bytes_on_disk: u64,
    pub bytes_per_event: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rss {
    pub samples: usize,
    pub median_mb: f64,
    pub p99_mb: f64,
    pub peak_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    /// Where ClickHouse keeps the bench database's tables (when it tells).
    pub path: Option<String>,
    pub free_bytes: Option<u64>,
    /// The estimate: bytes per event × events × 2 (a merge writes its new part beside the
    /// old ones) + 1 GiB.
    pub needed_bytes: u64,
    pub bytes_per_event_assumed: f64,
    /// Why free space could not be read, if it could not.
    pub unchecked: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeRun {
    pub events: u64,
    pub database: String,
    /// Why this size was not measured (only: the disk cannot hold it).
    pub skipped: Option<String>,
    pub disk: Disk,
    pub load: Option<LoadFigures>,
    pub api: Vec<Latency>,
    pub original: Vec<Latency>,
    pub rss: Option<Rss>,
    /// From the end of the events to the first timed request.
    pub data_age_s: Option<f64>,
}

pub(crate) fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

pub(crate) fn render(name: &str, source: &str, values: &Values) -> anyhow::Result<String> {
    template::render(name, source, values, &|_| None).map_err(anyhow::Error::msg)
}

pub(crate) fn db_values(db: &str) -> anyhow::Result<Values> {
    clickhouse_http::ident(db).with_context(|| format!("bench database name {db:?}"))?;
    Ok(Values::new().ident("db", db))
}

fn array(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

/// The generator's catalogue as SQL array literals (1-based in SQL: product id = index).
fn catalogue_values() -> Values {
    let c = Catalogue::new(Locale::Ru);
    let q = |s: &str| quote(s);
    Values::new()
        .sql("product_names", array(c.products.iter().map(|p| q(p.name))))
        .sql(
            "product_categories",
            array(c.products.iter().map(|p| q(p.category))),
        )
        .sql(
            "product_prices",
            array(c.products.iter().map(|p| p.price_cents.to_string())),
        )
        .sql("warehouses", array(c.warehouses.iter().map(|w| q(w))))
        .int("warehouse_count", c.warehouses.len() as u64)
        .sql("suppliers", array(c.suppliers.iter().map(|s| q(s))))
        .int("supplier_count", c.suppliers.len() as u64)
        .sql("staff", array(c.staff.iter().map(|s| q(s))))
        .int("staff_count", c.staff.len() as u64)
}

/// "10M", "100M", "20k", "1.5M".
pub fn size_label(n: u64) -> String {
    let (v, unit) = if n >= 1_000_000 {
        (n as f64 / 1e6, "M")
    } else if n >= 1_000 {
        (n as f64 / 1e3, "k")
    } else {
        (n as f64, "")
    };
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s);
    format!("{s}{unit}")
}

/// The nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn latency(name: String, pairs_with: Option<String>, ms: &[f64], body_bytes: usize) -> Latency {
    let mut v = ms.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    Latency {
        name,
        pairs_with,
        n: v.len(),
        p50_ms: median(v.iter().copied()).unwrap_or(f64::NAN),
        p99_ms: percentile(&v, 99.0),
        max_ms: v.last().copied().unwrap_or(f64::NAN),
        mean_ms: v.iter().sum::<f64>() / v.len().max(1) as f64,
        body_bytes,
        clickhouse: None,
    }
}

pub async fn run(
    opts: &ApiOptions,
    applier: &dyn SchemaApply,
    serve: &dyn ServeCommand,
) -> anyhow::Result<PhaseReport> {
    if opts.sizes.is_empty() || opts.sizes.contains(&0) {
        bail!("the api phase needs at least one size, each 1 event or more");
    }
    if opts.requests == 0 || opts.load_chunk == 0 {
        bail!("the api phase needs at least one request and a load chunk of 1 event or more");
    }
    let version = opts
        .clickhouse
        .version()
        .await
        .context("asking ClickHouse for its version")?;
    let dialect = schema::Dialect::for_version(version).map_err(anyhow::Error::msg)?;

    let mut runs: Vec<SizeRun> = Vec::new();
    let mut bytes_per_event = BYTES_PER_EVENT_GUESS;
    for &events in &opts.sizes {
        let target = IngestTarget {
            database: format!("{}_{events}", opts.database_prefix),
            sales_topic: opts.sales_topic.clone(),
            warehouse_topic: opts.warehouse_topic.clone(),
            consumers: 1,
            partitions: 1,
            max_block_size: 65_536,
        };
        let result = measure_size(
            opts,
            applier,
            serve,
            &target,
            events,
            bytes_per_event,
            dialect == schema::Dialect::Current,
        )
        .await;
        // Dropped whatever happened: its Kafka tables would go on polling, its rows take disk.
        let dropped = if opts.keep {
            eprintln!(
                "api: kept database {} (drop it when done: its Kafka tables poll their topics)",
                target.database
            );
            Ok(())
        } else {
            crate::ingest::drop_database(&opts.clickhouse, &target.database).await
        };
        let run = result.with_context(|| format!("api at {events} events"))?;
        dropped?;
        if let Some(l) = &run.load {
            bytes_per_event = bytes_per_event.max(l.bytes_per_event);
        }
        runs.push(run);
    }
    Ok(report(opts, &version.to_string(), runs))
}

#[allow(clippy::too_many_arguments)]
async fn measure_size(
    opts: &ApiOptions,
    applier: &dyn SchemaApply,
    serve: &dyn ServeCommand,
    target: &IngestTarget,
    events: u64,
    bytes_per_event: f64,
    cascading_views: bool,
) -> anyhow::Result<SizeRun> {
    let db = &target.database;
    let client = &opts.clickhouse;
    applier.apply(target).await.context("applying the schema")?;

    let disk = disk_check(client, db, events, bytes_per_event).await;
    let mut run = SizeRun {
        events,
        database: db.clone(),
        skipped: None,
        disk: disk.clone(),
        load: None,
        api: Vec::new(),
        original: Vec::new(),
        rss: None,
        data_age_s: None,
    };
    if let Some(free) = disk.free_bytes {
        if free < disk.needed_bytes {
            let why = format!(
                "not measured: {events} events need about {:.1} GB on {} ({:.0} B/event × 2 for merges + 1 GiB), {:.1} GB free",
                disk.needed_bytes as f64 / 1e9,
                disk.path.as_deref().unwrap_or("ClickHouse's disk"),
                disk.bytes_per_event_assumed,
                free as f64 / 1e9
            );
            tracing::warn!("{why}");
            run.skipped = Some(why);
            return Ok(run);
        }
    }

    tracing::info!(events, database = %db, "api: loading");
    let load = load(opts, db, events, cascading_views).await?;
    tracing::info!(
        events,
        seconds = load.total_s,
        bytes = load.bytes_on_disk,
        "api: loaded"
    );

    let mut child = ServeChild::start(serve, db).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(300))
        .build()
        .context("building the HTTP client")?;
    let rss = RssSampler::start(child.pid());
    run.data_age_s = Some(unix_now().saturating_sub(load.end as u32) as f64);
    let measured = async {
        let mut api = Vec::new();
        for e in ENDPOINTS {
            let url = format!("{}{}", child.base, e.path());
            let mut last_bytes = 0;
            let ms = sample(opts, || {
                let (http, url) = (&http, &url);
                async move {
                    let t = Instant::now();
                    let resp = http
                        .get(url.as_str())
                        .send()
                        .await
                        .with_context(|| format!("GET {url}"))?;
                    let status = resp.status();
                    let body = resp.bytes().await.with_context(|| format!("GET {url}"))?;
                    let d = t.elapsed();
                    if !status.is_success() {
                        bail!(
                            "GET {url} answered {status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(500)])
                        );
                    }
                    Ok((d, body.len()))
                }
            })
            .await?;
            if let Some(&(_, b)) = ms.last() {
                last_bytes = b;
            }
            let v: Vec<f64> = ms.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect();
            api.push(latency(e.path(), None, &v, last_bytes));
        }
        let reader = client.clone().with_setting("readonly", 2).with_database(db);
        let values = db_values(db)?;
        let mut original = Vec::new();
        for o in &ORIGINAL {
            let sql = render(o.file, o.source, &values)?;
            let ms = sample(opts, || {
                let (reader, sql) = (&reader, &sql);
                async move {
                    let t = Instant::now();
                    let rows: Vec<serde_json::Value> = reader
                        .query(sql)
                        .await
                        .with_context(|| format!("the original {}", o.name))?;
                    let d = t.elapsed();
                    Ok((d, serde_json::to_vec(&rows).map_or(0, |b| b.len())))
                }
            })
            .await?;
            let v: Vec<f64> = ms.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect();
            let bytes = ms.last().map_or(0, |&(_, b)| b);
            original.push(latency(
                format!("original {}", o.name),
                Some(o.pairs_with.to_string()),
                &v,
                bytes,
            ));
        }
        anyhow::Ok((api, original))
    }
    .await;
    let rss = rss.stop();
    let exited = child.exited();
    drop(child);
    let (mut api, mut original) = measured?;
    if let Some(status) = exited {
        bail!("pipeline serve exited during the measurement ({status})");
    }
    run.rss = Some(rss?);

    // ClickHouse's own figures for one more call of each.
    let figures = server_figures(client, db).await?;
    for (l, e) in api.iter_mut().zip(ENDPOINTS) {
        l.clickhouse = figures.get(&format!("api_{}", e.key())).cloned();
    }
    for (l, o) in original.iter_mut().zip(&ORIGINAL) {
        l.clickhouse = figures.get(&format!("original_{}", o.name)).cloned();
    }
    run.api = api;
    run.original = original;
    run.load = Some(load);
    Ok(run)
}

/// Warm-up, then up to `requests` timed calls, stopping early once `budget` is spent (with
/// at least [`MIN_SAMPLES`]). Warm-up stops early after a quarter of the budget.
async fn sample<F, Fut>(opts: &ApiOptions, mut once: F) -> anyhow::Result<Vec<(Duration, usize)>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<(Duration, usize)>>,
{
    let started = Instant::now();
    for _ in 0..opts.warmup {
        once().await?;
        if started.elapsed() >= opts.budget / 4 {
            break;
        }
    }
    let started = Instant::now();
    let mut out = Vec::with_capacity(opts.requests as usize);
    while out.len() < opts.requests as usize {
        out.push(once().await?);
        if out.len() >= MIN_SAMPLES && started.elapsed() >= opts.budget {
            break;
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct ServerNow {
    now: u64,
}

#[derive(Deserialize)]
struct Storage {
    bytes: u64,
    sales_rows: u64,
    stock_movements_rows: u64,
    sales_parts: u64,
    stock_movements_parts: u64,
    merges: u64,
}

async fn storage(client: &Client, db: &str) -> anyhow::Result<Storage> {
    client
        .query_one(&render("api/storage.sql", STORAGE_SQL, &db_values(db)?)?)
        .await
        .context("reading the bench database's parts")
}

pub(crate) async fn load(
    opts: &ApiOptions,
    db: &str,
    events: u64,
    cascading_views: bool,
) -> anyhow::Result<LoadFigures> {
    let client = &opts.clickhouse;
    let started = Instant::now();
    let now: ServerNow = client
        .query_one(&render(
            "api/server_now.sql",
            SERVER_NOW_SQL,
            &Values::new(),
        )?)
        .await
        .context("reading the server's clock")?;
    let start = now.now - SPAN_S;
    let mut values = db_values(db)?;
    values.extend(catalogue_values());
    values = values
        .int("start", start)
        .int("span", SPAN_S)
        .int("events", events);

    let chunks = events.div_ceil(opts.load_chunk);
    for k in 0..chunks {
        let first = k * opts.load_chunk;
        let count = opts.load_chunk.min(events - first);
        values = values.int("first", first).int("count", count);
        for (name, source) in [
            ("api/load_sales.sql", LOAD_SALES_SQL),
            ("api/load_stock_movements.sql", LOAD_STOCK_MOVEMENTS_SQL),
        ] {
            client
                .execute(&render(name, source, &values)?)
                .await
                .with_context(|| format!("{name}, events {first}..{}", first + count))?;
        }
        tracing::debug!(chunk = k + 1, chunks, "api: raw rows loaded");
    }
    let raw_s = started.elapsed().as_secs_f64();

    // The rollups, in whole-minute windows of about one chunk of events each.
    let fill_started = Instant::now();
    if !cascading_views {
        let end = start + SPAN_S;
        for k in 0..chunks {
            let edge = |i: u64| {
                let t = start + SPAN_S * i / chunks;
                t - t % 60
            };
            let from = if k == 0 { 0 } else { edge(k) };
            let to = if k + 1 == chunks {
                end + 60
            } else {
                edge(k + 1)
            };
            let w = db_values(db)?.int("from", from).int("to", to);
            for (name, source) in [
                ("api/fill_sales_by_minute.sql", FILL_SALES_BY_MINUTE_SQL),
                ("api/fill_stock_by_minute.sql", FILL_STOCK_BY_MINUTE_SQL),
                ("api/fill_stock_levels.sql", FILL_STOCK_LEVELS_SQL),
            ] {
                client
                    .execute(&render(name, source, &w)?)
                    .await
                    .with_context(|| format!("{name}, window {from}..{to}"))?;
            }
        }
    }
    let rollups_s = fill_started.elapsed().as_secs_f64();

    // The tiers `pipeline up` keeps (migration 0006), sealed by the same code: passes until
    // every minute is checked and every hour that is over is sealed.
    let seal_started = Instant::now();
    let hours_sealed = reconcile::rollups::Rollups::new(client.clone(), db)
        .catch_up()
        .await
        .context("checking the minutes and sealing the hours")?
        .hours_sealed;
    let seal_s = seal_started.elapsed().as_secs_f64();

    // Merges the load started compete with the measurement: let them finish first.
    let settle_started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    let settled = loop {
        let s = storage(client, db).await?;
        if s.merges == 0 {
            let q = *quiet_since.get_or_insert_with(Instant::now);
            if q.elapsed() >= Duration::from_secs(3) {
                break true;
            }
        } else {
            quiet_since = None;
        }
        if settle_started.elapsed() >= opts.settle {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let settle_s = settle_started.elapsed().as_secs_f64();

    let s = storage(client, db).await?;
    if s.sales_rows + s.stock_movements_rows != events {
        bail!(
            "the load left {} sales + {} stock movements in {db}, not {events} events",
            s.sales_rows,
            s.stock_movements_rows
        );
    }
    Ok(LoadFigures {
        start,
        end: start + SPAN_S,
        chunks,
        raw_s,
        rollups_s,
        rollups_by_views: cascading_views,
        seal_s,
        hours_sealed,
        settle_s,
        settled,
        total_s: started.elapsed().as_secs_f64(),
        sales_rows: s.sales_rows,
        stock_movements_rows: s.stock_movements_rows,
        sales_parts: s.sales_parts,
        stock_movements_parts: s.stock_movements_parts,
        bytes_on_disk: s.bytes,
        bytes_per_event: s.bytes as f64 / events as f64,
    })
}

/// Free space where ClickHouse keeps the database's tables, against what `events` would take.
pub(crate) async fn disk_check(
    client: &Client,
    db: &str,
    events: u64,
    bytes_per_event: f64,
) -> Disk {
    let needed_bytes = (bytes_per_event * events as f64 * 2.0) as u64 + (1 << 30);
    let mut disk = Disk {
        path: None,
        free_bytes: None,
        needed_bytes,
        bytes_per_event_assumed: bytes_per_event,
        unchecked: None,
    };
    #[derive(Deserialize)]
    struct Row {
        data_path: String,
    }
    let path = async {
        let sql = render("api/data_path.sql", DATA_PATH_SQL, &db_values(db)?)?;
        let row: Row = client.query_one(&sql).await?;
        anyhow::Ok(row.data_path)
    }
    .await;
    match path {
        Ok(p) => {
            match free_bytes(&p) {
                Some(f) => disk.free_bytes = Some(f),
                None => {
                    disk.unchecked = Some(format!(
                        "{p} is not readable from here (ClickHouse on another machine?)"
                    ))
                }
            }
            disk.path = Some(p);
        }
        Err(e) => disk.unchecked = Some(format!("ClickHouse did not tell its data path: {e:#}")),
    }
    disk
}

/// Bytes available to an unprivileged writer on the filesystem holding `path` (`statvfs`).
fn free_bytes(path: &str) -> Option<u64> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: statvfs only writes into the struct we pass; the path is NUL-terminated.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

/// One more call of every endpoint's queries and every original query, each under its own
/// query_id with `log_queries=1`; then ClickHouse's figures from `system.query_log`.
async fn server_figures(
    client: &Client,
    db: &str,
) -> anyhow::Result<BTreeMap<String, ServerFigures>> {
    let prefix = format!("pipeline_bench_{}_{db}_", crate::run_id());
    let logged = |key: &str| {
        client
            .clone()
            .with_setting("readonly", 2)
            .with_setting("log_queries", 1)
            .with_query_id_prefix(&format!("{prefix}{key}."))
            .with_database(db)
    };
    // The keys whose statements ran, each expected in the query log.
    let mut expected = BTreeSet::new();
    for e in ENDPOINTS {
        let key = format!("api_{}", e.key());
        let q = Queries::new(logged(&key), db)?;
        if e.run_queries(&q)
            .await
            .with_context(|| format!("the queries of {}", e.path()))?
        {
            expected.insert(key);
        }
    }
    let values = db_values(db)?;
    for o in &ORIGINAL {
        let sql = render(o.file, o.source, &values)?;
        let key = format!("original_{}", o.name);
        logged(&key)
            .query::<serde_json::Value>(&sql)
            .await
            .with_context(|| format!("the original {}", o.name))?;
        expected.insert(key);
    }
    #[derive(Deserialize)]
    struct Row {
        endpoint: String,
        #[serde(flatten)]
        figures: ServerFigures,
    }
    let flush = render("api/flush_logs.sql", FLUSH_LOGS_SQL, &Values::new())?;
    let sql = render(
        "api/query_log.sql",
        QUERY_LOG_SQL,
        &Values::new().string("prefix", prefix.as_str()),
    )?;
    // A flush can return while the log's own flush of earlier rows is still being written
    // (18.16, seen on a loaded machine: the first of the statements missing): read until
    // every key is there, for up to 10 s.
    let started = Instant::now();
    loop {
        client
            .execute(&flush)
            .await
            .context("flushing ClickHouse's query log")?;
        let rows: Vec<Row> = client
            .query(&sql)
            .await
            .context("reading system.query_log (is <query_log> in the server's config?)")?;
        let figures: BTreeMap<String, ServerFigures> = rows
            .into_iter()
            .filter_map(|r| {
                r.endpoint
                    .strip_prefix(&prefix)
                    .map(|k| (k.to_string(), r.figures))
            })
            .collect();
        if expected.iter().all(|k| figures.contains_key(k))
            || started.elapsed() > Duration::from_secs(10)
        {
            return Ok(figures);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `pipeline serve` as a child process; killed on drop.
pub(crate) struct ServeChild {
    child: Child,
    log: PathBuf,
    pub(crate) base: String,
}

impl ServeChild {
    async fn start(serve: &dyn ServeCommand, db: &str) -> anyhow::Result<Self> {
        Self::start_ready(serve, db, "/healthz").await
    }

    /// Started, and answering `ready` (a path) with a success.
    pub(crate) async fn start_ready(
        serve: &dyn ServeCommand,
        db: &str,
        ready: &str,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free loopback port")?
            .port();
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::env::temp_dir().join(format!("pipeline-bench-api-serve-{db}.log"));
        let file = std::fs::File::create(&log)
            .with_context(|| format!("creating the server's log {}", log.display()))?;
        let mut cmd = serve.command(db, listen);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        let child = cmd.spawn().context("starting `pipeline serve`")?;
        let mut me = ServeChild {
            child,
            log,
            base: format!("http://{listen}"),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the HTTP client")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = me.child.try_wait() {
                bail!(
                    "`pipeline serve` exited at start ({status}): {}",
                    me.log_tail()
                );
            }
            if let Ok(r) = http.get(format!("{}{ready}", me.base)).send().await {
                if r.status().is_success() {
                    return Ok(me);
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "`pipeline serve` did not answer {ready} on {listen} within 30 s: {}",
                    me.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub(crate) fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
            let _ = f.read_to_string(&mut text);
        }
        if text.trim().is_empty() {
            "(nothing on its stderr)".into()
        } else {
            text.trim().to_string()
        }
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// VmRSS of a process every 10 ms, on a thread of its own.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<u64>>,
}

/// VmRSS in KiB from /proc/<pid>/status.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = vm_rss_kib(pid) {
                    samples.push(kib);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        });
        RssSampler { stop, handle }
    }

    fn stop(self) -> anyhow::Result<Rss> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
        if samples.is_empty() {
            bail!("no VmRSS sample of the server (/proc/<pid>/status unreadable)");
        }
        let mut mb: Vec<f64> = samples.iter().map(|&k| k as f64 / 1024.0).collect();
        mb.sort_by(|a, b| a.total_cmp(b));
        Ok(Rss {
            samples: mb.len(),
            median_mb: median(mb.iter().copied()).unwrap_or(f64::NAN),
            p99_mb: percentile(&mb, 99.0),
            peak_mb: *mb.last().unwrap_or(&f64::NAN),
        })
    }
}

pub(crate) fn ms(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        fmt_num(Some(v), 0)
    }
}

fn report(opts: &ApiOptions, server: &str, runs: Vec<SizeRun>) -> PhaseReport {
    let mut header = vec!["endpoint / query".to_string()];
    for r in &runs {
        let s = size_label(r.events);
        header.extend([
            format!("{s} p50 ms"),
            format!("{s} p99 ms"),
            format!("{s} max ms"),
            format!("{s} rows read"),
        ]);
    }
    let mut table = Table {
        header,
        rows: Vec::new(),
    };
    let cells = |pick: &dyn Fn(&SizeRun) -> Option<&Latency>| {
        let mut out = Vec::new();
        for r in &runs {
            match pick(r) {
                Some(l) => out.extend([
                    ms(l.p50_ms),
                    ms(l.p99_ms),
                    ms(l.max_ms),
                    l.clickhouse
                        .as_ref()
                        .map_or("—".into(), |c| fmt_num(Some(c.read_rows as f64), 0)),
                ]),
                None => out.extend(std::iter::repeat_n("—".to_string(), 4)),
            }
        }
        out
    };
    for (i, e) in ENDPOINTS.iter().enumerate() {
        let mut row = vec![e.path()];
        row.extend(cells(&|r| r.api.get(i)));
        table.row(row);
    }
    for (i, o) in ORIGINAL.iter().enumerate() {
        let mut row = vec![format!("original SQL ≈ {}", o.pairs_with)];
        row.extend(cells(&|r| r.original.get(i)));
        table.row(row);
    }
    let mut row = vec!["serve RSS MB (median, p99, peak)".to_string()];
    for r in &runs {
        match &r.rss {
            Some(m) => row.extend([
                format!("{:.1}", m.median_mb),
                format!("{:.1}", m.p99_mb),
                format!("{:.1}", m.peak_mb),
                "—".into(),
            ]),
            None => row.extend(std::iter::repeat_n("—".to_string(), 4)),
        }
    }
    table.row(row);

    let mut notes = vec![
        format!(
            "ClickHouse {server} · sequential GETs over one keep-alive connection after {} warm-up; \
             up to {} timed per endpoint and size, stopping after {:?} (at least {MIN_SAMPLES}); \
             p50 = median, p99 = nearest rank; the original SQL timed the same way over ClickHouse HTTP",
            opts.warmup, opts.requests, opts.budget
        ),
        "rows read: ClickHouse's read_rows (system.query_log) for one more call of the same code \
         (query::Queries as the server runs it; the original SQL), summed over its statements"
            .into(),
    ];
    for r in &runs {
        let s = size_label(r.events);
        if let Some(why) = &r.skipped {
            notes.push(format!("{s}: {why}"));
            continue;
        }
        if let Some(l) = &r.load {
            notes.push(format!(
                "{s}: loaded in {:.1} s (raw rows {:.1} s in {} chunks, rollups {:.1} s{}, \
                 {} hours sealed in {:.1} s, merges {:.1} s{}); \
                 {} sales + {} stock movements over 7 days, {:.2} GB on disk ({:.0} B/event), \
                 {} + {} parts; newest event {:.0} s old at the first request",
                l.total_s,
                l.raw_s,
                l.chunks,
                l.rollups_s,
                if l.rollups_by_views {
                    " (by the ingest views)"
                } else {
                    ""
                },
                l.hours_sealed,
                l.seal_s,
                l.settle_s,
                if l.settled {
                    ""
                } else {
                    ", still merging when measured"
                },
                fmt_num(Some(l.sales_rows as f64), 0),
                fmt_num(Some(l.stock_movements_rows as f64), 0),
                l.bytes_on_disk as f64 / 1e9,
                l.bytes_per_event,
                l.sales_parts,
                l.stock_movements_parts,
                r.data_age_s.unwrap_or(f64::NAN),
            ));
        }
        if let Some(why) = &r.disk.unchecked {
            notes.push(format!("{s}: disk not checked: {why}"));
        }
        let short: Vec<String> = r
            .api
            .iter()
            .chain(&r.original)
            .filter(|l| l.n < opts.requests as usize)
            .map(|l| format!("{} n={}", l.name, l.n))
            .collect();
        if !short.is_empty() {
            notes.push(format!(
                "{s}: budget spent before {} requests: {}",
                opts.requests,
                short.join(", ")
            ));
        }
        let missed: Vec<String> = r
            .api
            .iter()
            .filter(|l| l.p99_ms.is_nan() || l.p99_ms > TARGET_P99_MS)
            .map(|l| {
                let ch = l.clickhouse.as_ref().map_or(String::new(), |c| {
                    format!(
                        " (ClickHouse: {} ms over {} statement(s), {} rows, {:.1} MB read, {:.0} MB memory)",
                        c.duration_ms,
                        c.statements,
                        fmt_num(Some(c.read_rows as f64), 0),
                        c.read_bytes as f64 / 1e6,
                        c.memory_bytes as f64 / 1e6
                    )
                });
                format!("{} p99 {}{ch}", l.name, ms(l.p99_ms))
            })
            .collect();
        notes.push(if missed.is_empty() {
            format!("{s}: every endpoint within the target p99 ≤ {TARGET_P99_MS} ms")
        } else {
            format!(
                "{s}: over the target p99 ≤ {TARGET_P99_MS} ms: {}",
                missed.join("; ")
            )
        });
        if let Some(m) = &r.rss {
            notes.push(format!(
                "{s}: serve RSS peak {:.1} MB over {} samples (target ≤ {TARGET_RSS_MB} MB: {})",
                m.peak_mb,
                m.samples,
                if m.peak_mb <= TARGET_RSS_MB {
                    "met"
                } else {
                    "missed"
                }
            ));
        }
    }
    let json = serde_json::json!({
        "clickhouse": server,
        "requests": opts.requests,
        "warmup": opts.warmup,
        "budget_s": opts.budget.as_secs_f64(),
        "load_chunk": opts.load_chunk,
        "topics": [opts.sales_topic, opts.warehouse_topic],
        "targets": {"p99_ms": TARGET_P99_MS, "rss_mb": TARGET_RSS_MB},
        "sizes": runs,
    });
    PhaseReport {
        name: "api",
        title: "api: dashboard API latency per endpoint vs the original SQL on raw tables, and serve RSS"
            .into(),
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
        let mut v = db_values("bench_1").unwrap();
        v.extend(catalogue_values());
        for (k, x) in [
            ("start", 0),
            ("span", 604800),
            ("events", 10),
            ("first", 0),
            ("count", 10),
            ("from", 0),
            ("to", 60),
        ] {
            v = v.int(k, x);
        }
        for (name, source) in [
            ("load_sales", LOAD_SALES_SQL),
            ("load_stock_movements", LOAD_STOCK_MOVEMENTS_SQL),
            ("fill_sales_by_minute", FILL_SALES_BY_MINUTE_SQL),
            ("fill_stock_by_minute", FILL_STOCK_BY_MINUTE_SQL),
            ("fill_stock_levels", FILL_STOCK_LEVELS_SQL),
            ("storage", STORAGE_SQL),
            ("data_path", DATA_PATH_SQL),
        ] {
            let s = render(name, source, &v).unwrap();
            assert!(s.contains("bench_1"), "{name}");
            assert!(!s.contains("{{"), "{name}");
        }
        let s = render("load_sales", LOAD_SALES_SQL, &v).unwrap();
        assert!(s.contains("'Смартфон Орбита'") && s.contains("899000"));
        for o in &ORIGINAL {
            assert!(render(o.file, o.source, &v).unwrap().contains("bench_1."));
        }
        assert!(db_values("a; DROP").is_err());
    }

    #[test]
    fn percentiles_and_labels() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 198.0);
        assert_eq!(percentile(&v, 100.0), 200.0);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        assert_eq!(size_label(10_000_000), "10M");
        assert_eq!(size_label(100_000_000), "100M");
        assert_eq!(size_label(20_000), "20k");
        assert_eq!(size_label(1_500_000), "1.5M");
    }
}
