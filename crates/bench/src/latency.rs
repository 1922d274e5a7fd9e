//! Latency: produce → queryable, at steady rates.
//!
//! For each rate, a fresh database and fresh topics get the schema exactly as `pipeline up`
//! applies it for that rate (the caller's [`SchemaApply`], with `up`'s block size), then
//! the project's generator and publisher run at the rate on the normal broker. The
//! publisher's latency probe (the dashboard's: one acknowledged event every 200 ms, with
//! the time the broker acknowledged it) gives the sampled events; their ids are looked up
//! in `sales` / `stock_movements` every `poll`, and latency = start of the poll that first
//! sees the row − acknowledgement.
//!
//! The clock for a rate starts with the first sampled event seen in ClickHouse (the Kafka
//! engine has joined and is streaming); `warmup` after that, samples acknowledged during
//! `duration` are measured. The generator keeps running until each of them is seen (or
//! `settle` has passed: a sample never seen is reported, not dropped), so the last ones do
//! not get the early flush of a topic that went quiet. Each database is dropped right
//! after its run; the topics stay (deleting a topic on tansu 0.6 deletes them all).
//!
//! Only the engine is measured: `pipeline up`'s guards do not run (on 18.16 its verifier
//! would replay a message the engine committed without writing; here such a sample stays
//! unseen and is counted).

use std::collections::HashSet;

use clickhouse_http::template::Values;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use clickhouse_http::{quote, template, Client};
use generate::{Generator, GeneratorConfig};
use kafka_admin::KafkaSettings;
use publish::{LatencyProbe, Publisher, RunLimits};
use serde::{Deserialize, Serialize};

use crate::ingest::{IngestTarget, SchemaApply};
use crate::{fmt_num, median, PhaseReport, Table};
use tokio_util::sync::CancellationToken;

/// Which sampled event ids one table shows yet (the ids come from our own generator).
/// `event_time` leads the tables' ORDER BY: the bound keeps the lookup on recent parts.
const LOOKUP_SQL: &str = include_str!("../sql/latency_lookup.sql");

/// The target table of each topic index of the publisher (sales first, warehouse second).
const TABLES: [&str; 2] = ["sales", "stock_movements"];

/// A rate to measure and the block size `pipeline up` gives the Kafka tables for it.
#[derive(Debug, Clone, Copy)]
pub struct LatencyRate {
    pub rate: u32,
    pub max_block_size: u32,
}

pub struct LatencyOptions {
    /// The broker as this process reaches it.
    pub kafka: KafkaSettings,
    /// ClickHouse, any default database (queries name the bench database).
    pub clickhouse: Client,
    pub rates: Vec<LatencyRate>,
    /// Measured window per rate (samples acknowledged in it).
    pub duration: Duration,
    /// From the first sampled event seen to the start of the window.
    pub warmup: Duration,
    pub seed: u64,
    pub partitions: i32,
    /// Databases are `<prefix>_r<rate>`.
    pub database_prefix: String,
    /// Topics are `<topic>_r<rate>`.
    pub sales_topic: String,
    pub warehouse_topic: String,
    /// Period of the ClickHouse lookups (start to start).
    pub poll: Duration,
    /// Fail when no sampled event is seen this long after the generator started.
    pub first_row_timeout: Duration,
    /// After the window, how long a sample may still take to appear before it counts
    /// as unseen.
    pub settle: Duration,
}

/// Latency figures of one table at one rate, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct TableLatency {
    pub table: &'static str,
    pub topic: String,
    /// Events/s this topic received (acknowledged events over the generator's run).
    pub events_per_s: f64,
    /// kafka_max_block_size over `events_per_s`: how long a block takes to fill.
    pub block_fill_s: f64,
    pub samples: usize,
    /// Samples acknowledged in the window but not seen within `settle` after it.
    pub unseen: usize,
    pub min_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Medians of the samples acknowledged in the first and the second half of the window:
    /// a second half much slower means the engine fell behind.
    pub p50_first_half_ms: Option<f64>,
    pub p50_second_half_ms: Option<f64>,
    /// Every sample: (acknowledged, seconds into the window; latency, ms).
    pub series: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    pub rate: u32,
    pub database: String,
    pub max_block_size: u32,
    /// From the generator's start to the first sampled event seen in ClickHouse.
    pub first_row_s: f64,
    pub window_s: f64,
    /// Events acknowledged per topic over the whole run (warm-up and settling included).
    pub acked: Vec<(String, u64)>,
    pub generator_s: f64,
    /// Start-to-start gaps of the lookups, and how long one took (median, max).
    pub poll_gap_median_ms: Option<f64>,
    pub poll_gap_max_ms: Option<f64>,
    pub query_median_ms: Option<f64>,
    pub query_errors: u64,
    /// 1-minute load average at the window's start and end (the machine is shared).
    pub load_start: Option<f64>,
    pub load_end: Option<f64>,
    pub tables: Vec<TableLatency>,
}

#[derive(Deserialize)]
struct Found {
    event_id: String,
}

#[derive(Deserialize)]
struct Setting {
    value: String,
}

fn render(name: &str, source: &str, values: &Values) -> anyhow::Result<String> {
    template::render(name, source, values, &|_| None).map_err(anyhow::Error::msg)
}

/// The value at quantile `q` of sorted `v`: index round((n − 1)·q), as the dashboard's
/// health panel computes its percentiles.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    Some(v[((v.len() as f64 - 1.0) * q).round() as usize])
}

/// One sampled event: topic index, event id, acknowledged at.
type Sample = (usize, String, SystemTime);

pub async fn run(opts: &LatencyOptions, applier: &dyn SchemaApply) -> anyhow::Result<PhaseReport> {
    if opts.rates.is_empty() || opts.rates.iter().any(|r| r.rate == 0) {
        bail!("latency needs at least one rate, each 1 event/s or more");
    }
    if opts.duration.is_zero() {
        bail!("latency needs a measured duration above zero");
    }
    let server = opts
        .clickhouse
        .version()
        .await
        .context("reading ClickHouse's version")?;
    let flush_ms = opts
        .clickhouse
        .query::<Setting>(include_str!("../sql/latency_flush_interval.sql"))
        .await
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|s| s.value);
    let modern = schema::Dialect::for_version(server).is_ok_and(|d| d == schema::Dialect::Current);

    let mut runs = Vec::new();
    for r in &opts.rates {
        let target = IngestTarget {
            database: format!("{}_r{}", opts.database_prefix, r.rate),
            sales_topic: format!("{}_r{}", opts.sales_topic, r.rate),
            warehouse_topic: format!("{}_r{}", opts.warehouse_topic, r.rate),
            consumers: 1,
            partitions: opts.partitions,
            max_block_size: r.max_block_size,
        };
        clickhouse_http::ident(&target.database)
            .with_context(|| format!("bench database name {:?}", target.database))?;
        let result = measure(opts, applier, &target, r.rate).await;
        // Dropped whatever happened: its Kafka tables would go on consuming.
        let dropped = crate::ingest::drop_database(&opts.clickhouse, &target.database).await;
        let run = result.with_context(|| format!("latency at {} events/s", r.rate))?;
        dropped?;
        tracing::info!(rate = r.rate, p99_ms = run.tables[0].p99_ms, "latency run");
        runs.push(run);
    }

    let mut table = Table::new(&[
        "events/s",
        "table",
        "block rows",
        "block fill s",
        "samples",
        "p50 s",
        "p95 s",
        "p99 s",
        "max s",
        "unseen",
    ]);
    let secs = |ms: Option<f64>| fmt_num(ms.map(|m| m / 1000.0), 2);
    for r in &runs {
        for t in &r.tables {
            table.row(vec![
                fmt_num(Some(r.rate as f64), 0),
                t.table.to_string(),
                fmt_num(Some(r.max_block_size as f64), 0),
                format!("{:.2}", t.block_fill_s),
                t.samples.to_string(),
                secs(t.p50_ms),
                secs(t.p95_ms),
                secs(t.p99_ms),
                secs(t.max_ms),
                t.unseen.to_string(),
            ]);
        }
    }

    let poll_ms = opts.poll.as_secs_f64() * 1000.0;
    let gap = median(runs.iter().filter_map(|r| r.poll_gap_median_ms));
    let gap_max = runs
        .iter()
        .filter_map(|r| r.poll_gap_max_ms)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let query = median(runs.iter().filter_map(|r| r.query_median_ms));
    let mut notes = vec![
        format!(
            "ClickHouse {server} · stream_flush_interval_ms {} · 1 consumer per Kafka table · \
             {} partitions per topic · kafka_max_block_size as `pipeline up` sizes it: \
             half a second of the rate",
            flush_ms.as_deref().unwrap_or("unknown"),
            opts.partitions
        ),
        format!(
            "latency = start of the ClickHouse lookup that first returns the row − broker \
             acknowledgement (the publisher's probe: one acknowledged event per 200 ms, both \
             topics); lookups every {poll_ms:.0} ms, measured start to start median {} ms, \
             max {} ms, a lookup taking {} ms (median): each figure is late by up to one gap",
            fmt_num(gap, 0),
            fmt_num(gap_max, 0),
            fmt_num(query, 0),
        ),
        format!(
            "per rate: a fresh database and topics; samples acknowledged in {:?} after a \
             {:?} warm-up from the first row seen; percentiles are sample values at index \
             round((n−1)·q): with under 100 samples p99 is one of the top two",
            opts.duration, opts.warmup
        ),
        "block fill s = kafka_max_block_size / that topic's events/s (sales get 70 % of the \
         events, stock movements 30 %, each topic has its own Kafka table and block)"
            .into(),
    ];
    if modern {
        notes.push(
            "this server flushes a Kafka block every kafka_flush_interval_ms (500 in the \
             schema) or when it is full"
                .into(),
        );
    } else {
        notes.push(
            "18.16 writes a Kafka block when it is full or after 500 ms without a message; \
             stream_flush_interval_ms does not cut a block, only ends the stream between blocks"
                .into(),
        );
        let target_ms = 2_500.0 + 500.0;
        let verdict: Vec<String> = runs
            .iter()
            .map(|r| {
                let p99 = r.tables[0].p99_ms;
                format!(
                    "{}/s {}",
                    fmt_num(Some(r.rate as f64), 0),
                    match p99 {
                        Some(p) if p <= target_ms => format!("met ({:.2} s)", p / 1000.0),
                        Some(p) => format!("not met ({:.2} s)", p / 1000.0),
                        None => "not measured".into(),
                    }
                )
            })
            .collect();
        notes.push(format!(
            "issue target: p99 within 0.5 s of the engine's own flush floor (≈2.5 s on 18.16 \
             with stream_flush_interval_ms 300, docs/environment.md), i.e. sales p99 ≤ ≈3.0 s: {}",
            verdict.join(", ")
        ));
    }
    let loads: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{}/s {}→{}",
                fmt_num(Some(r.rate as f64), 0),
                fmt_num(r.load_start, 1),
                fmt_num(r.load_end, 1)
            )
        })
        .collect();
    notes.push(format!(
        "1-minute load average at each window's start→end: {} ({} CPUs, shared with the \
         broker, ClickHouse and anything else running)",
        loads.join(", "),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    for r in &runs {
        let rate = fmt_num(Some(r.rate as f64), 0);
        for t in &r.tables {
            if let (Some(a), Some(b)) = (t.p50_first_half_ms, t.p50_second_half_ms) {
                if b > 1.5 * a && b - a > 500.0 {
                    notes.push(format!(
                        "{rate}/s {}: latency grew during the window (p50 {:.2} s in its first \
                         half, {:.2} s in its second): the engine fell behind the rate",
                        t.table,
                        a / 1000.0,
                        b / 1000.0
                    ));
                }
            }
        }
        for t in r.tables.iter().filter(|t| t.unseen > 0) {
            let why = if modern {
                ""
            } else {
                ": 18.16 ends its stream every stream_flush_interval_ms and, when it ends on a \
                 full block, commits the message it read past the block without writing it (one \
                 per such block: frequent with small blocks); under `pipeline up` the verifier \
                 replays it, so its latency is the verifier's, not in these figures"
            };
            notes.push(format!(
                "{rate}/s {}: {} of {} sampled events ({:.0} %) never appeared within {:?} after \
                 the window and are left out of the figures{why}",
                t.table,
                t.unseen,
                t.samples + t.unseen,
                100.0 * t.unseen as f64 / (t.samples + t.unseen) as f64,
                opts.settle
            ));
        }
        if r.query_errors > 0 {
            notes.push(format!(
                "{rate}/s: {} lookup(s) failed and were retried at the next poll",
                r.query_errors
            ));
        }
    }
    let json = serde_json::json!({
        "clickhouse": server.to_string(),
        "stream_flush_interval_ms": flush_ms,
        "partitions": opts.partitions,
        "consumers": 1,
        "duration_s": opts.duration.as_secs_f64(),
        "warmup_s": opts.warmup.as_secs_f64(),
        "poll_ms": poll_ms,
        "probe_every_ms": 200,
        "runs": runs,
    });
    Ok(PhaseReport {
        name: "latency",
        title: "latency: broker acknowledgement → row queryable in ClickHouse, at steady rates"
            .into(),
        table,
        notes,
        json,
    })
}

async fn measure(
    opts: &LatencyOptions,
    applier: &dyn SchemaApply,
    target: &IngestTarget,
    rate: u32,
) -> anyhow::Result<LatencyRun> {
    applier.apply(target).await.context("applying the schema")?;
    let topics = [target.sales_topic.clone(), target.warehouse_topic.clone()];
    let publisher = Publisher::new(&opts.kafka, &[&topics[0], &topics[1]])?;
    let probe = publisher.probe();
    let stop = CancellationToken::new();
    let seed = opts.seed;
    let generation = tokio::task::spawn_blocking({
        let stop = stop.clone();
        move || -> anyhow::Result<publish::RunSummary> {
            let mut generator = Generator::new(&GeneratorConfig {
                seed: Some(seed),
                ..GeneratorConfig::default()
            })
            .map_err(anyhow::Error::msg)?;
            let limits = RunLimits {
                rate: rate as f64,
                count: None,
                duration: None,
            };
            Ok(publish::run(
                &mut generator,
                &publisher,
                &limits,
                &stop,
                &mut |_| {},
            )?)
        }
    });
    let tracked = track(opts, &target.database, &probe, &generation).await;
    stop.cancel();
    let summary = generation
        .await?
        .context("running the generator at the rate")?;
    let tracked = tracked?;
    if summary.failures() > 0 {
        bail!(
            "{} message(s) failed or were not confirmed by the broker",
            summary.failures()
        );
    }
    let generator_s = summary.elapsed.as_secs_f64().max(1e-3);
    let tables = TABLES
        .iter()
        .enumerate()
        .map(|(i, &table)| {
            let series = tracked.latencies[i].clone();
            let mut v: Vec<f64> = series.iter().map(|&(_, ms)| ms).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let half = opts.duration.as_secs_f64() / 2.0;
            let events_per_s = summary.topics[i].1.events as f64 / generator_s;
            TableLatency {
                table,
                topic: topics[i].clone(),
                events_per_s,
                block_fill_s: if events_per_s > 0.0 {
                    target.max_block_size as f64 / events_per_s
                } else {
                    f64::INFINITY
                },
                samples: v.len(),
                unseen: tracked.unseen[i],
                min_ms: v.first().copied(),
                p50_ms: quantile(&v, 0.50),
                p95_ms: quantile(&v, 0.95),
                p99_ms: quantile(&v, 0.99),
                max_ms: v.last().copied(),
                p50_first_half_ms: median(
                    series.iter().filter(|(s, _)| *s < half).map(|&(_, ms)| ms),
                ),
                p50_second_half_ms: median(
                    series.iter().filter(|(s, _)| *s >= half).map(|&(_, ms)| ms),
                ),
                series,
            }
        })
        .collect();
    Ok(LatencyRun {
        rate,
        database: target.database.clone(),
        max_block_size: target.max_block_size,
        first_row_s: tracked.first_row_s,
        window_s: opts.duration.as_secs_f64(),
        acked: summary
            .topics
            .iter()
            .map(|(t, l)| (t.clone(), l.events))
            .collect(),
        generator_s,
        poll_gap_median_ms: median(tracked.gaps_ms.iter().copied()),
        poll_gap_max_ms: tracked.gaps_ms.iter().copied().reduce(f64::max),
        query_median_ms: median(tracked.query_ms.iter().copied()),
        query_errors: tracked.query_errors,
        load_start: tracked.load_start,
        load_end: tracked.load_end,
        tables,
    })
}

struct Tracked {
    /// Per topic index: (acknowledged, s into the window; latency, ms).
    latencies: [Vec<(f64, f64)>; 2],
    unseen: [usize; 2],
    first_row_s: f64,
    gaps_ms: Vec<f64>,
    query_ms: Vec<f64>,
    query_errors: u64,
    load_start: Option<f64>,
    load_end: Option<f64>,
}

/// The 1-minute load average, from /proc/loadavg.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Polls ClickHouse for the probe's samples until the window's samples are all seen, or
/// `settle` after the window. Fails when the generator stops or no row ever appears.
async fn track(
    opts: &LatencyOptions,
    db: &str,
    probe: &LatencyProbe,
    generation: &tokio::task::JoinHandle<anyhow::Result<publish::RunSummary>>,
) -> anyhow::Result<Tracked> {
    let started = Instant::now();
    let mut pending: Vec<Sample> = Vec::new();
    // The measured window (from, to), in wall-clock time as the probe's; known once the
    // first sample is seen.
    let mut window: Option<(SystemTime, SystemTime)> = None;
    let mut out = Tracked {
        latencies: [Vec::new(), Vec::new()],
        unseen: [0, 0],
        first_row_s: 0.0,
        gaps_ms: Vec::new(),
        query_ms: Vec::new(),
        query_errors: 0,
        load_start: None,
        load_end: None,
    };
    let mut last_error = None;
    let mut ticks = tokio::time::interval(opts.poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_poll: Option<Instant> = None;
    loop {
        ticks.tick().await;
        if generation.is_finished() {
            bail!("the generator stopped before the measurement ended");
        }
        let poll_instant = Instant::now();
        let poll_at = SystemTime::now();
        if let Some(prev) = last_poll.replace(poll_instant) {
            if window.is_some() {
                out.gaps_ms
                    .push((poll_instant - prev).as_secs_f64() * 1000.0);
            }
        }
        pending.extend(probe.take());
        if let Some((from, to)) = window {
            if out.load_start.is_none() && poll_at >= from {
                out.load_start = load_average();
            }
            if out.load_end.is_none() && poll_at > to {
                out.load_end = load_average();
            }
            pending.retain(|(_, _, at)| *at >= from && *at <= to);
            if poll_at > to && pending.is_empty() {
                break;
            }
            if poll_at > to + opts.settle {
                for (t, _, _) in &pending {
                    out.unseen[*t] += 1;
                }
                break;
            }
        } else if started.elapsed() > opts.first_row_timeout {
            bail!(
                "no sampled event reached {db}.sales or {db}.stock_movements within {:?} of \
                 the generator's start: is ClickHouse consuming from the broker? (`pipeline \
                 doctor` checks that ClickHouse itself can read from it){}",
                opts.first_row_timeout,
                last_error
                    .map(|e| format!("; last lookup error: {e}"))
                    .unwrap_or_default()
            );
        }
        if pending.is_empty() {
            continue;
        }
        let sql = lookup_sql(db, &pending)?;
        let q = Instant::now();
        let found = match opts.clickhouse.query::<Found>(&sql).await {
            Ok(rows) => rows,
            Err(e) => {
                out.query_errors += 1;
                last_error = Some(e);
                continue;
            }
        };
        if window.is_some() {
            out.query_ms.push(q.elapsed().as_secs_f64() * 1000.0);
        }
        if found.is_empty() {
            continue;
        }
        let found: HashSet<String> = found.into_iter().map(|f| f.event_id).collect();
        match window {
            None => {
                // The engine is streaming: the warm-up starts now. Samples acknowledged
                // before the window are only used to see this.
                out.first_row_s = started.elapsed().as_secs_f64();
                let from = poll_at + opts.warmup;
                window = Some((from, from + opts.duration));
                pending.retain(|(_, id, _)| !found.contains(id));
            }
            Some((from, _)) => pending.retain(|(t, id, at)| {
                if found.contains(id) {
                    let ms = poll_at.duration_since(*at).unwrap_or_default();
                    let into = at.duration_since(from).unwrap_or_default();
                    out.latencies[*t].push((into.as_secs_f64(), ms.as_secs_f64() * 1000.0));
                    false
                } else {
                    true
                }
            }),
        }
    }
    Ok(out)
}

/// One lookup for every pending sample: a SELECT per table, joined with UNION ALL.
fn lookup_sql(db: &str, pending: &[Sample]) -> anyhow::Result<String> {
    clickhouse_http::ident(db).with_context(|| format!("bench database name {db:?}"))?;
    // The generator writes event_time as local time, read by the server in its zone; a
    // bound written the same way, a minute before the oldest sample, holds whatever the zone.
    let oldest = pending
        .iter()
        .map(|(_, _, at)| *at)
        .min()
        .unwrap_or_else(SystemTime::now);
    let since = chrono::DateTime::<chrono::Local>::from(oldest - Duration::from_secs(60))
        .naive_local()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut parts = Vec::new();
    for (i, table) in TABLES.iter().enumerate() {
        let ids: Vec<String> = pending
            .iter()
            .filter(|(t, _, _)| *t == i)
            .map(|(_, id, _)| quote(id))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let values = Values::new()
            .ident("db", db)
            .ident("table", table)
            .string("since", since.as_str())
            .sql("ids", ids.join(","));
        parts.push(render("lookup", LOOKUP_SQL, &values)?);
    }
    Ok(parts.join("\nUNION ALL\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_index_like_the_dashboard() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(51.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn one_lookup_per_table_with_quoted_ids() {
        let now = SystemTime::now();
        let pending = vec![
            (0, "a".to_string(), now),
            (1, "b'".to_string(), now),
            (0, "c".to_string(), now),
        ];
        let sql = lookup_sql("bench_1", &pending).unwrap();
        assert!(
            sql.contains("FROM bench_1.sales") && sql.contains("'a','c'"),
            "{sql}"
        );
        assert!(
            sql.contains("FROM bench_1.stock_movements") && sql.contains(r"'b\''"),
            "{sql}"
        );
        assert_eq!(sql.matches("UNION ALL").count(), 1);
        let only_sales = lookup_sql("bench_1", &pending[..1]).unwrap();
        assert!(!only_sales.contains("UNION") && !only_sales.contains("stock_movements"));
        assert!(lookup_sql("a; DROP", &pending).is_err());
    }
}
