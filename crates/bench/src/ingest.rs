//! Ingest: rows/s the ClickHouse Kafka engine lands in MergeTree from a backlog.
//!
//! `events` are produced into fresh topics first (the project's generator and publisher,
//! on the normal broker). Then, for each number of consumers, a fresh database gets the
//! schema — applied by the caller's [`SchemaApply`], i.e. exactly what `pipeline schema
//! apply` does — and `count()` of `sales` + `stock_movements` is polled until every event
//! has landed. The clock starts when the apply returns (the Kafka tables are then
//! consuming) and stops at the poll that sees the last row. Each database is dropped
//! right after its run; the topics stay (deleting a topic on tansu 0.6 deletes them all).
//!
//! Only the engine is measured: `pipeline up`'s guards (verifier, rescue, duplicate check)
//! do not run. If rows stop arriving short of the total (18.16 can commit a message it never
//! wrote; the verifier replays those under `up`), the run ends after `stall` without
//! change and reports the rows that are missing, with the rate of those that landed.

use clickhouse_http::template::Values;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clickhouse_http::{template, Client};
use generate::{Generator, GeneratorConfig};
use kafka_admin::{KafkaSettings, TopicSpec};
use publish::{Publisher, RunLimits};
use serde::{Deserialize, Serialize};

use crate::{fmt_num, PhaseReport, Table};
use tokio_util::sync::CancellationToken;

const LANDED_SQL: &str = include_str!("../sql/landed.sql");
const DROP_DATABASE_SQL: &str = include_str!("../sql/drop_database.sql");

/// What one ingest run applies the schema to.
#[derive(Debug, Clone)]
pub struct IngestTarget {
    pub database: String,
    pub sales_topic: String,
    pub warehouse_topic: String,
    pub consumers: u32,
    pub partitions: i32,
    pub max_block_size: u32,
}

/// Applies the schema for a target: topics, consumer groups, tables, Kafka tables, views.
pub trait SchemaApply {
    fn apply<'a>(
        &'a self,
        target: &'a IngestTarget,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;
}

pub struct IngestOptions {
    /// The broker as this process reaches it (the backlog is produced there).
    pub kafka: KafkaSettings,
    /// ClickHouse, any default database (queries name the bench database).
    pub clickhouse: Client,
    pub events: u64,
    pub seed: u64,
    pub partitions: i32,
    pub consumers: Vec<u32>,
    pub max_block_size: u32,
    /// Databases are `<prefix>_c<consumers>`.
    pub database_prefix: String,
    pub sales_topic: String,
    pub warehouse_topic: String,
    /// Give up on one run after this long.
    pub timeout: Duration,
    /// End a run that has landed some rows but no more for this long.
    pub stall: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestRun {
    pub consumers: u32,
    pub database: String,
    pub expected: u64,
    pub rows: u64,
    pub missing: u64,
    /// From the end of the apply to the poll that saw the last row.
    pub seconds: f64,
    pub rows_per_s: f64,
    /// From the end of the apply to the first poll that saw a row.
    pub first_row_s: f64,
    /// How long the schema apply took (not in `seconds`).
    pub apply_s: f64,
    /// Rows over apply + landing, as a user of `pipeline up` on a backlog sees it.
    pub rows_per_s_with_apply: f64,
    /// Per target table, at the end of the run.
    pub tables: Vec<TableFigures>,
}

/// One topic → table at the end of a run: what the broker holds, what ClickHouse's
/// consumer group committed, what the table holds.
#[derive(Debug, Clone, Serialize)]
pub struct TableFigures {
    pub table: &'static str,
    pub topic: String,
    pub produced: i64,
    pub committed: i64,
    pub rows: u64,
}

#[derive(Deserialize)]
struct Landed {
    sales: u64,
    stock_movements: u64,
}

fn render(name: &str, source: &str, db: &str) -> anyhow::Result<String> {
    clickhouse_http::ident(db).with_context(|| format!("bench database name {db:?}"))?;
    let values = Values::new().ident("db", db);
    template::render(name, source, &values, &|_| None).map_err(anyhow::Error::msg)
}

pub async fn run(opts: &IngestOptions, applier: &dyn SchemaApply) -> anyhow::Result<PhaseReport> {
    let most = opts.consumers.iter().copied().max().unwrap_or(0);
    if opts.consumers.is_empty() || opts.consumers.contains(&0) {
        bail!("ingest needs at least one number of consumers, each 1 or more");
    }
    if opts.partitions < most as i32 {
        bail!(
            "{most} consumers need at least {most} partitions per topic, not {} (--partitions)",
            opts.partitions
        );
    }
    if opts.events == 0 {
        bail!("ingest needs at least one event");
    }
    let topics = [opts.sales_topic.clone(), opts.warehouse_topic.clone()];
    let (produced, produce_s) = produce_backlog(opts).await?;

    let mut runs = Vec::new();
    for &consumers in &opts.consumers {
        let target = IngestTarget {
            database: format!("{}_c{consumers}", opts.database_prefix),
            sales_topic: topics[0].clone(),
            warehouse_topic: topics[1].clone(),
            consumers,
            partitions: opts.partitions,
            max_block_size: opts.max_block_size,
        };
        let result = measure(opts, applier, &target, produced).await;
        // Dropped whatever happened: its Kafka tables would go on consuming.
        let dropped = drop_database(&opts.clickhouse, &target.database).await;
        let run = result.with_context(|| format!("ingest with {consumers} consumer(s)"))?;
        dropped?;
        tracing::info!(consumers, rows_per_s = run.rows_per_s, "ingest run");
        runs.push(run);
    }

    let mut table = Table::new(&[
        "consumers/table",
        "rows",
        "landing s",
        "rows/s",
        "first row s",
        "apply s",
        "rows/s incl. apply",
        "missing",
    ]);
    for r in &runs {
        table.row(vec![
            r.consumers.to_string(),
            fmt_num(Some(r.rows as f64), 0),
            format!("{:.2}", r.seconds),
            fmt_num(Some(r.rows_per_s), 0),
            format!("{:.2}", r.first_row_s),
            format!("{:.2}", r.apply_s),
            fmt_num(Some(r.rows_per_s_with_apply), 0),
            r.missing.to_string(),
        ]);
    }
    let server = opts
        .clickhouse
        .version()
        .await
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mut notes = vec![
        format!(
            "ClickHouse {server} · backlog of {produced} events in {} partitions per topic · \
             kafka_max_block_size {} · rows = count() of sales + stock_movements",
            opts.partitions, opts.max_block_size
        ),
        format!(
            "backlog produced at {} events/s into {} (the broker's durable storage)",
            fmt_num(Some(produced as f64 / produce_s), 0),
            opts.kafka.brokers
        ),
        "rows/s: from the end of `schema apply` to the poll (every 100 ms) that saw the last row; \
         Kafka engine only, without `pipeline up`'s guards"
            .into(),
    ];
    for r in runs.iter().filter(|r| r.missing > 0) {
        let figures: Vec<String> = r
            .tables
            .iter()
            .map(|t| {
                format!(
                    "{}: {} produced, {} committed, {} rows",
                    t.table, t.produced, t.committed, t.rows
                )
            })
            .collect();
        let committed_all = r.tables.iter().all(|t| t.committed >= t.produced);
        notes.push(format!(
            "{} consumer(s): rows stopped {} short of the total for {:?} ({}){}; rows/s counts the landed rows",
            r.consumers,
            r.missing,
            opts.stall,
            figures.join("; "),
            if committed_all {
                ": the engine committed messages it did not write (18.16, see crates/clickhouse-18-16/src/verify.rs; \
                 under `pipeline up` the verifier replays them)"
            } else {
                ""
            }
        ));
    }
    let json = serde_json::json!({
        "clickhouse": server,
        "events": produced,
        "partitions": opts.partitions,
        "max_block_size": opts.max_block_size,
        "topics": topics,
        "backlog_produce_events_per_s": produced as f64 / produce_s,
        "runs": runs,
    });
    Ok(PhaseReport {
        name: "ingest",
        title: "ingest: rows/s the Kafka engine lands in MergeTree from a backlog".into(),
        table,
        notes,
        json,
    })
}

/// The backlog: `events` of the generator (seed `seed`) into the two topics, created with
/// `partitions` each, through the production path (publisher, checked acknowledgements).
/// Returns the events acknowledged and the seconds it took.
pub(crate) async fn produce_backlog(opts: &IngestOptions) -> anyhow::Result<(u64, f64)> {
    let topics = [opts.sales_topic.clone(), opts.warehouse_topic.clone()];
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|t| TopicSpec {
            name: t.clone(),
            partitions: opts.partitions,
        })
        .collect();
    kafka_admin::ensure_topics(&opts.kafka, &specs, Duration::from_secs(10))
        .await
        .with_context(|| format!("creating the ingest topics on {}", opts.kafka.brokers))?;

    // The backlog, through the production path.
    let (kafka, t, seed, events) = (opts.kafka.clone(), topics.clone(), opts.seed, opts.events);
    tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, f64)> {
        let mut generator = Generator::new(&GeneratorConfig {
            seed: Some(seed),
            ..GeneratorConfig::default()
        })
        .map_err(anyhow::Error::msg)?;
        let publisher = Publisher::new(&kafka, &[&t[0], &t[1]])?;
        let limits = RunLimits {
            rate: 0.0,
            count: Some(events),
            duration: None,
        };
        let s = publish::run(
            &mut generator,
            &publisher,
            &limits,
            &CancellationToken::new(),
            &mut |_| {},
        )?;
        let acked: u64 = s.topics.iter().map(|(_, l)| l.events).sum();
        if s.failures() > 0 || acked != events {
            bail!(
                "{acked} of {events} backlog events acknowledged ({} failed)",
                s.failures()
            );
        }
        Ok((acked, s.elapsed.as_secs_f64()))
    })
    .await?
    .context("producing the ingest backlog")
}

pub(crate) async fn measure(
    opts: &IngestOptions,
    applier: &dyn SchemaApply,
    target: &IngestTarget,
    expected: u64,
) -> anyhow::Result<IngestRun> {
    let landed_sql = render("landed.sql", LANDED_SQL, &target.database)?;
    let started = Instant::now();
    applier.apply(target).await.context("applying the schema")?;
    let applied = Instant::now();
    let apply_s = (applied - started).as_secs_f64();

    let mut first_row: Option<Instant> = None;
    let mut last_change = applied;
    let mut rows = 0u64;
    let mut last_error = None;
    loop {
        match opts.clickhouse.query_one::<Landed>(&landed_sql).await {
            Ok(l) => {
                let now = Instant::now();
                let n = l.sales + l.stock_movements;
                if n > 0 && first_row.is_none() {
                    first_row = Some(now);
                }
                if n != rows {
                    rows = n;
                    last_change = now;
                }
                if rows >= expected {
                    break;
                }
            }
            Err(e) => last_error = Some(e),
        }
        let waited = applied.elapsed();
        if rows > 0 && last_change.elapsed() >= opts.stall {
            tracing::warn!(rows, expected, "rows stopped arriving short of the total");
            break;
        }
        if waited >= opts.timeout {
            bail!(
                "{rows} of {expected} rows landed in {} within {:?}{}",
                target.database,
                opts.timeout,
                last_error
                    .map(|e| format!(" (last query error: {e})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = (last_change - applied).as_secs_f64().max(1e-3);
    let tables = table_figures(opts, target).await?;
    Ok(IngestRun {
        consumers: target.consumers,
        database: target.database.clone(),
        expected,
        rows,
        missing: expected.saturating_sub(rows),
        seconds,
        rows_per_s: rows as f64 / seconds,
        first_row_s: first_row
            .map(|t| (t - applied).as_secs_f64())
            .unwrap_or(seconds),
        apply_s,
        rows_per_s_with_apply: rows as f64 / (seconds + apply_s),
        tables,
    })
}

async fn table_figures(
    opts: &IngestOptions,
    target: &IngestTarget,
) -> anyhow::Result<Vec<TableFigures>> {
    let landed: Landed = opts
        .clickhouse
        .query_one(&render("landed.sql", LANDED_SQL, &target.database)?)
        .await
        .context("counting the landed rows")?;
    let schema = schema::SchemaConfig::new(&target.database, "");
    let mut out = Vec::new();
    for (table, topic, rows) in [
        ("sales", &target.sales_topic, landed.sales),
        (
            "stock_movements",
            &target.warehouse_topic,
            landed.stock_movements,
        ),
    ] {
        let name = topic.clone();
        let (kafka, group, topic) = (opts.kafka.clone(), schema.group_for(topic), topic.clone());
        let (produced, committed) =
            tokio::task::spawn_blocking(move || -> anyhow::Result<(i64, i64)> {
                let timeout = Duration::from_secs(10);
                let group = kafka_admin::group_partitions(&kafka, &group, &topic, timeout)?;
                let produced = group.iter().map(|p| p.high - p.low).sum();
                let committed = group.iter().map(|p| p.consumed()).sum();
                Ok((produced, committed))
            })
            .await?
            .with_context(|| format!("reading the offsets of {table}'s topic"))?;
        out.push(TableFigures {
            table,
            topic: name,
            produced,
            committed,
            rows,
        });
    }
    Ok(out)
}

/// Drops a bench database (its name checked as an identifier).
pub(crate) async fn drop_database(client: &Client, db: &str) -> anyhow::Result<()> {
    let sql = render("drop_database.sql", DROP_DATABASE_SQL, db)?;
    client
        .clone()
        .with_database("system")
        .execute(&sql)
        .await
        .with_context(|| format!("dropping the bench database {db}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sql_renders_with_a_checked_name() {
        let s = super::render("landed.sql", super::LANDED_SQL, "bench_1").unwrap();
        assert!(s.contains("bench_1.sales") && s.contains("bench_1.stock_movements"));
        assert!(super::render("x", super::DROP_DATABASE_SQL, "a; DROP").is_err());
    }
}
