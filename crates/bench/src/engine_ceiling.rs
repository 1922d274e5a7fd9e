//! Engine ceiling: what ClickHouse's Kafka engine lands per second when the views do no
//! work, beside the full schema on the same backlog and machine.
//!
//! The backlog is the ingest phase's (`events` of the generator, seed `seed`, into two
//! fresh topics of `partitions` each, through the publisher). Then, each on a fresh database
//! with its own consumer groups, one consumer per Kafka table, and `count()` polled every
//! 100 ms from the moment the last view exists to the poll that sees the last row:
//!
//! - **one view** (the ceiling): per topic one Kafka table feeding a single trivial view
//!   (`SELECT raw`, no parsing) into one MergeTree table — the full schema's layout of
//!   Kafka tables and consumers, without its parsing;
//! - **k views** (only with `views` ≥ 2): the same, each Kafka table feeding `views`
//!   trivial views into as many tables (a message lands once in each): what each further
//!   view costs the engine without parsing. Off by default: on 18.16 with 5 views per table
//!   the landing stalled (134,463 of 200,000) and dropping that database aborted the server;
//! - **schema**: the full schema, exactly as `pipeline schema apply` makes it (the caller's
//!   [`SchemaApply`]), 1 consumer per Kafka table: what the ingest phase measures.
//!
//! Each topic has its own Kafka table and consumer group, as in the schema, so the ceiling
//! and the schema read the backlog with the same consumers.
//!
//! `runs` rounds, the order reversed every other round; the table quotes medians. Rows/s
//! counts messages (a message landed in k tables counts once). Wall time on a shared
//! machine: the broker, ClickHouse and this process share the cores.
//!
//! For current ClickHouse, where no server runs here, chDB measures what the parse costs
//! per core with the parse done once (`tests/modern_clickhouse/parse_cost.py`, given the
//! sales messages the per-topic variant landed and the schema rendered for 25.8) when a
//! Python with chDB is given.

use clickhouse_http::template::Values;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clickhouse_http::{template, Client, ServerVersion};
use serde::{Deserialize, Serialize};

use crate::ingest::{IngestOptions, IngestTarget, SchemaApply};
use crate::{fmt_num, median, PhaseReport, Table};

const CREATE_DATABASE_SQL: &str = include_str!("../sql/engine_ceiling/create_database.sql");
const KAFKA_TABLE_SQL: &str = include_str!("../sql/engine_ceiling/kafka_table.sql");
const RAW_TABLE_SQL: &str = include_str!("../sql/engine_ceiling/raw_table.sql");
const RAW_VIEW_SQL: &str = include_str!("../sql/engine_ceiling/raw_view.sql");
const COUNT_ROWS_SQL: &str = include_str!("../sql/engine_ceiling/count_rows.sql");
const RAW_MESSAGES_SQL: &str = include_str!("../sql/engine_ceiling/raw_messages.sql");
const KAFKA_VIEWS_SQL: &str = include_str!("../sql/engine_ceiling/kafka_views.sql");
/// A variant that has landed nothing after this long is broken, not slow.
const FIRST_ROW_TIMEOUT: Duration = Duration::from_secs(120);

/// chDB's side: a Python with chDB, the script, and the DDL it reads the view from.
pub struct Chdb {
    pub python: PathBuf,
    pub script: PathBuf,
    /// `pipeline schema print --for-version 25.8`.
    pub ddl: String,
}

pub struct EngineCeilingOptions {
    /// The ingest phase's options: broker, ClickHouse, backlog, topics, timeouts. Its
    /// `consumers` are ignored (1 per Kafka table) and its database prefix is this phase's.
    pub ingest: IngestOptions,
    /// The brokers as the ClickHouse server reaches them.
    pub clickhouse_brokers: String,
    /// Trivial views per Kafka table of the k-views variant (0: not run).
    pub views: u32,
    pub runs: u32,
    pub chdb: Option<Chdb>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    OneView,
    KViews,
    Schema,
}

const VARIANTS: [Variant; 3] = [Variant::OneView, Variant::KViews, Variant::Schema];

impl Variant {
    fn key(self) -> &'static str {
        match self {
            Variant::OneView => "one",
            Variant::KViews => "kviews",
            Variant::Schema => "schema",
        }
    }

    fn label(self, views: u32, schema_views: Option<u64>) -> String {
        match self {
            Variant::OneView => "1 Kafka table per topic → 1 trivial view (ceiling)".into(),
            Variant::KViews => format!("1 Kafka table per topic → {views} trivial views"),
            Variant::Schema => format!(
                "full schema: 2 Kafka tables → {} parsing views",
                schema_views.map_or("the".into(), |n| n.to_string())
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantRun {
    pub variant: Variant,
    pub round: u32,
    pub database: String,
    pub expected: u64,
    /// Messages landed (in every table of the variant).
    pub rows: u64,
    pub missing: u64,
    /// From the last view created (the apply's end) to the poll that saw the last row.
    pub seconds: f64,
    pub rows_per_s: f64,
    pub first_row_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChdbLine {
    pub label: String,
    pub seconds: f64,
    pub messages: u64,
    pub messages_per_s: f64,
}

fn values(db: &str) -> anyhow::Result<Values> {
    clickhouse_http::ident(db).with_context(|| format!("bench database name {db:?}"))?;
    Ok(Values::new().ident("db", db))
}

fn render(name: &str, source: &str, values: &Values) -> anyhow::Result<String> {
    template::render(name, source, values, &|_| None).map_err(anyhow::Error::msg)
}

/// The raw Kafka table's text for this server: 18.16 reads raw CSV lines (its text is in
/// the 18.16 seam).
fn kafka_table_sql(version: ServerVersion) -> anyhow::Result<&'static str> {
    Ok(
        match schema::Dialect::for_version(version).map_err(anyhow::Error::msg)? {
            schema::Dialect::Current => KAFKA_TABLE_SQL,
            schema::Dialect::ClickHouse1816 => clickhouse_18_16::BENCH_ENGINE_CEILING_KAFKA_TABLE,
        },
    )
}

#[derive(Deserialize)]
struct N {
    n: u64,
}

pub async fn run(
    opts: &EngineCeilingOptions,
    applier: &dyn SchemaApply,
) -> anyhow::Result<PhaseReport> {
    let io = &opts.ingest;
    if io.events == 0 || opts.runs == 0 || opts.views == 1 {
        bail!("the engine-ceiling phase needs 1 event or more, 1 run or more and 0 or 2+ views");
    }
    let client = &io.clickhouse;
    let version = client
        .version()
        .await
        .context("asking ClickHouse for its version")?;
    let (produced, produce_s) = crate::ingest::produce_backlog(io).await?;

    let mut runs: Vec<VariantRun> = Vec::new();
    let mut schema_views = None;
    let mut sales_file: Option<PathBuf> = None;
    for round in 0..opts.runs {
        let mut order: Vec<Variant> = VARIANTS
            .into_iter()
            .filter(|&v| v != Variant::KViews || opts.views >= 2)
            .collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for v in order {
            let db = format!("{}_{}_{round}", io.database_prefix, v.key());
            let result = async {
                let r = match v {
                    Variant::Schema => {
                        let target = IngestTarget {
                            database: db.clone(),
                            sales_topic: io.sales_topic.clone(),
                            warehouse_topic: io.warehouse_topic.clone(),
                            consumers: 1,
                            partitions: io.partitions,
                            max_block_size: io.max_block_size,
                        };
                        let r = crate::ingest::measure(io, applier, &target, produced).await?;
                        if schema_views.is_none() {
                            let sql = render(
                                "engine_ceiling/kafka_views.sql",
                                KAFKA_VIEWS_SQL,
                                &values(&db)?,
                            )?;
                            schema_views = client.query_one::<N>(&sql).await.ok().map(|n| n.n);
                        }
                        VariantRun {
                            variant: v,
                            round,
                            database: db.clone(),
                            expected: produced,
                            rows: r.rows,
                            missing: r.missing,
                            seconds: r.seconds,
                            rows_per_s: r.rows_per_s,
                            first_row_s: r.first_row_s,
                        }
                    }
                    _ => measure_raw(opts, v, &db, round, produced, version).await?,
                };
                if v == Variant::OneView && sales_file.is_none() && opts.chdb.is_some() {
                    sales_file = Some(dump_sales(client, &db).await?);
                }
                anyhow::Ok(r)
            }
            .await;
            let dropped = crate::ingest::drop_database(client, &db).await;
            let r =
                result.with_context(|| format!("engine ceiling, {}", v.label(opts.views, None)))?;
            dropped?;
            tracing::info!(
                variant = v.key(),
                rows_per_s = r.rows_per_s,
                "engine-ceiling run"
            );
            runs.push(r);
        }
    }

    let chdb = match (&opts.chdb, &sales_file) {
        (Some(c), Some(f)) => {
            let r = parse_cost(c, f).await;
            let _ = std::fs::remove_file(f);
            Some(r)
        }
        _ => None,
    };
    Ok(report(
        opts,
        &version.to_string(),
        produced,
        produce_s,
        runs,
        schema_views,
        chdb,
    ))
}

/// One trivial-view variant: tables, Kafka table(s), views; then the landing clock.
async fn measure_raw(
    opts: &EngineCeilingOptions,
    v: Variant,
    db: &str,
    round: u32,
    expected: u64,
    version: ServerVersion,
) -> anyhow::Result<VariantRun> {
    let io = &opts.ingest;
    let client = &io.clickhouse;
    let base = values(db)?;
    let exec = |name: &'static str, source: &'static str, extra: Values| {
        let mut vals = base.clone();
        vals.extend(extra);
        async move {
            let sql = render(name, source, &vals)?;
            client
                .execute(&sql)
                .await
                .with_context(|| format!("{name} in {db}"))
        }
    };
    exec(
        "engine_ceiling/create_database.sql",
        CREATE_DATABASE_SQL,
        Values::new(),
    )
    .await?;
    // (Kafka table, its topic, the tables its views land in.)
    let views = match v {
        Variant::OneView => 1,
        Variant::KViews => opts.views,
        Variant::Schema => bail!("the schema variant is not a raw one"),
    };
    let tables = |stream: &str| -> Vec<String> {
        if views == 1 {
            vec![format!("{stream}_raw")]
        } else {
            (1..=views).map(|i| format!("{stream}_raw_{i}")).collect()
        }
    };
    let layout: Vec<(&str, String, Vec<String>)> = vec![
        ("sales_kafka", io.sales_topic.clone(), tables("sales")),
        (
            "warehouse_kafka",
            io.warehouse_topic.clone(),
            tables("warehouse"),
        ),
    ];
    for (kafka, topics, tables) in &layout {
        for t in tables {
            exec(
                "engine_ceiling/raw_table.sql",
                RAW_TABLE_SQL,
                Values::new().ident("table", t),
            )
            .await?;
        }
        // 18.16 starts a new group at the end of each partition: committed at the start
        // first, as `schema apply` does for its own groups.
        let group = format!("{db}_{kafka}");
        let (k, g, t) = (io.kafka.clone(), group.clone(), topics.clone());
        tokio::task::spawn_blocking(move || {
            kafka_admin::start_group_at_beginning(&k, &g, &t, Duration::from_secs(10))
        })
        .await?
        .with_context(|| format!("positioning the consumer group {group} on {topics}"))?;
        exec(
            "engine_ceiling/kafka_table.sql",
            kafka_table_sql(version)?,
            Values::new()
                .ident("table", kafka)
                .string("brokers", &opts.clickhouse_brokers)
                .string("topics", topics)
                .string("group", &group)
                .int("max_block_size", io.max_block_size),
        )
        .await?;
    }
    let started = Instant::now();
    for (kafka, _, tables) in &layout {
        for t in tables {
            exec(
                "engine_ceiling/raw_view.sql",
                RAW_VIEW_SQL,
                Values::new()
                    .ident("view", &format!("{t}_mv"))
                    .ident("table", t)
                    .ident("source", kafka),
            )
            .await?;
        }
    }
    let applied = Instant::now();
    tracing::debug!(
        setup_s = (applied - started).as_secs_f64(),
        "engine-ceiling views made"
    );

    // Messages landed: every table holds each message of its Kafka table once, so the
    // fewest of a Kafka table's tables, summed over Kafka tables.
    let count_sqls: Vec<Vec<String>> = layout
        .iter()
        .map(|(_, _, tables)| {
            tables
                .iter()
                .map(|t| {
                    let vals = base.clone().ident("table", t);
                    render("engine_ceiling/count_rows.sql", COUNT_ROWS_SQL, &vals)
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<_>>()?;
    let landed = || async {
        let mut total = 0;
        for group in &count_sqls {
            let mut least = u64::MAX;
            for sql in group {
                least = least.min(client.query_one::<N>(sql).await?.n);
            }
            total += least;
        }
        anyhow::Ok(total)
    };
    let mut first_row: Option<Instant> = None;
    let mut last_change = applied;
    let mut rows = 0u64;
    let mut last_error = None;
    loop {
        match landed().await {
            Ok(n) => {
                let now = Instant::now();
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
        if rows > 0 && last_change.elapsed() >= io.stall {
            tracing::warn!(rows, expected, "rows stopped arriving short of the total");
            break;
        }
        let no_row_yet = rows == 0 && applied.elapsed() >= FIRST_ROW_TIMEOUT;
        if applied.elapsed() >= io.timeout || no_row_yet {
            bail!(
                "{rows} of {expected} messages landed in {db} within {:?}{}",
                applied.elapsed(),
                last_error
                    .map(|e| format!(" (last query error: {e:#})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = (last_change - applied).as_secs_f64().max(1e-3);
    Ok(VariantRun {
        variant: v,
        round,
        database: db.to_string(),
        expected,
        rows,
        missing: expected.saturating_sub(rows),
        seconds,
        rows_per_s: rows as f64 / seconds,
        first_row_s: first_row
            .map(|t| (t - applied).as_secs_f64())
            .unwrap_or(seconds),
    })
}

/// The one-view variant's sales messages into a file, one per line, for chDB.
async fn dump_sales(client: &Client, db: &str) -> anyhow::Result<PathBuf> {
    #[derive(Deserialize)]
    struct Raw {
        raw: String,
    }
    let vals = values(db)?.ident("table", "sales_raw");
    let sql = render("engine_ceiling/raw_messages.sql", RAW_MESSAGES_SQL, &vals)?;
    let rows: Vec<Raw> = client
        .query(&sql)
        .await
        .context("reading the sales messages back")?;
    let path = std::env::temp_dir().join(format!("pipeline-bench-{db}-sales.txt"));
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    for r in rows {
        f.write_all(r.raw.as_bytes())?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(path)
}

/// `python parse_cost.py FILE < DDL`: its lines `<label>: <s> s for <n> messages = <r>
/// messages/s per core`.
async fn parse_cost(c: &Chdb, file: &std::path::Path) -> Result<Vec<ChdbLine>, String> {
    let (python, script, ddl, file) = (
        c.python.clone(),
        c.script.clone(),
        c.ddl.clone(),
        file.to_path_buf(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(&python)
            .arg(&script)
            .arg(&file)
            .current_dir(script.parent().unwrap_or(std::path::Path::new(".")))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ddl.as_bytes())
                .map_err(|e| format!("writing the DDL to parse_cost.py: {e}"))?;
        }
        child
            .wait_with_output()
            .map_err(|e| format!("parse_cost.py: {e}"))
    })
    .await
    .map_err(|e| format!("parse_cost.py: {e}"))??;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "parse_cost.py failed ({}): {} {}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let lines: Vec<ChdbLine> = text.lines().filter_map(parse_cost_line).collect();
    if lines.is_empty() {
        return Err(format!("parse_cost.py printed no figure: {}", text.trim()));
    }
    Ok(lines)
}

fn parse_cost_line(line: &str) -> Option<ChdbLine> {
    let (label, rest) = line.rsplit_once(": ")?;
    let seconds: f64 = rest.split(" s for ").next()?.trim().parse().ok()?;
    let messages: u64 = rest
        .split(" s for ")
        .nth(1)?
        .split(" messages")
        .next()?
        .replace(',', "")
        .trim()
        .parse()
        .ok()?;
    let rate: f64 = rest
        .split("= ")
        .nth(1)?
        .split(' ')
        .next()?
        .replace(',', "")
        .parse()
        .ok()?;
    Some(ChdbLine {
        label: label.to_string(),
        seconds,
        messages,
        messages_per_s: rate,
    })
}

fn report(
    opts: &EngineCeilingOptions,
    server: &str,
    produced: u64,
    produce_s: f64,
    runs: Vec<VariantRun>,
    schema_views: Option<u64>,
    chdb: Option<Result<Vec<ChdbLine>, String>>,
) -> PhaseReport {
    let io = &opts.ingest;
    let med = |v: Variant| median(runs.iter().filter(|r| r.variant == v).map(|r| r.rows_per_s));
    let ceiling = med(Variant::OneView);
    let mut table = Table::new(&[
        "variant",
        "rows/s (median)",
        "runs",
        "first row s",
        "missing",
        "÷ ceiling",
    ]);
    for v in VARIANTS {
        let rs: Vec<&VariantRun> = runs.iter().filter(|r| r.variant == v).collect();
        if rs.is_empty() {
            continue;
        }
        let m = med(v);
        table.row(vec![
            v.label(opts.views, schema_views),
            fmt_num(m, 0),
            rs.iter()
                .map(|r| fmt_num(Some(r.rows_per_s), 0))
                .collect::<Vec<_>>()
                .join(" · "),
            fmt_num(median(rs.iter().map(|r| r.first_row_s)), 2),
            rs.iter().map(|r| r.missing).sum::<u64>().to_string(),
            match (m, ceiling) {
                (Some(m), Some(c)) if c > 0.0 => format!("{:.3}", m / c),
                _ => "—".into(),
            },
        ]);
    }
    let us = |r: Option<f64>| r.filter(|r| *r > 0.0).map(|r| 1e6 / r);
    let one = us(ceiling);
    let k = us(med(Variant::KViews));
    let ours = us(med(Variant::Schema));
    let per_trivial_view = match (one, k) {
        (Some(a), Some(b)) => Some((b - a) / (opts.views as f64 - 1.0)),
        _ => None,
    };
    let per_parsing_view = match (one, ours, schema_views) {
        (Some(a), Some(b), Some(n)) if n > 0 => Some((b - a) / n as f64),
        _ => None,
    };
    let ratio = match (med(Variant::Schema), ceiling) {
        (Some(o), Some(c)) if c > 0.0 => Some(o / c),
        _ => None,
    };
    let mut notes = vec![
        format!(
            "ClickHouse {server} · backlog of {produced} events ({} events/s into {}) in {} partitions per topic · \
             kafka_max_block_size {} · 1 consumer per Kafka table · {} round(s), order reversed every other",
            fmt_num(Some(produced as f64 / produce_s), 0),
            io.kafka.brokers,
            io.partitions,
            io.max_block_size,
            opts.runs
        ),
        format!(
            "ours / ceiling: {} (full schema {} rows/s, one trivial view {} rows/s)",
            ratio.map_or("—".into(), |r| format!("{r:.3}")),
            fmt_num(med(Variant::Schema), 0),
            fmt_num(ceiling, 0)
        ),
        format!(
            "wall µs per message (2 shared cores, not CPU): engine + 1 trivial view {}; each further trivial view {}; \
             full schema {}; (full − ceiling) per parsing view {}",
            fmt_num(one, 2),
            fmt_num(per_trivial_view, 2),
            fmt_num(ours, 2),
            fmt_num(per_parsing_view, 2)
        ),
    ];
    match &chdb {
        Some(Ok(lines)) => {
            for l in lines {
                notes.push(format!(
                    "chDB (current ClickHouse, parse done once, 1 core): {}: {} messages/s ({:.3} s for {})",
                    l.label,
                    fmt_num(Some(l.messages_per_s), 0),
                    l.seconds,
                    fmt_num(Some(l.messages as f64), 0)
                ));
            }
        }
        Some(Err(e)) => notes.push(format!("chDB not measured: {e}")),
        None => notes.push(
            "chDB not measured (give --chdb-python or CHDB_PYTHON: a Python with chDB)".into(),
        ),
    }
    let json = serde_json::json!({
        "clickhouse": server,
        "events": produced,
        "backlog_produce_events_per_s": produced as f64 / produce_s,
        "partitions": io.partitions,
        "max_block_size": io.max_block_size,
        "views": opts.views,
        "schema_kafka_views": schema_views,
        "rounds": opts.runs,
        "ceiling_rows_per_s": ceiling,
        "schema_rows_per_s": med(Variant::Schema),
        "k_views_rows_per_s": med(Variant::KViews),
        "ratio_schema_to_ceiling": ratio,
        "us_per_message": {
            "ceiling": one,
            "each_further_trivial_view": per_trivial_view,
            "schema": ours,
            "per_parsing_view": per_parsing_view,
        },
        "chdb": match &chdb {
            Some(Ok(lines)) => serde_json::json!(lines),
            Some(Err(e)) => serde_json::json!({"error": e}),
            None => serde_json::Value::Null,
        },
        "runs": runs,
    });
    PhaseReport {
        name: "engine_ceiling",
        title:
            "engine-ceiling: the Kafka engine with trivial views vs the full schema, same backlog"
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
    fn sql_renders_for_both_families() {
        let v = values("bench_1")
            .unwrap()
            .ident("table", "raw_kafka")
            .string("brokers", "b:9092")
            .string("topics", "s,w")
            .string("group", "g")
            .int("max_block_size", 65536);
        let old = render(
            "k",
            kafka_table_sql("18.16.1".parse().unwrap()).unwrap(),
            &v,
        )
        .unwrap();
        assert!(
            old.contains("'CSV'") && old.contains("bench_1.raw_kafka"),
            "{old}"
        );
        let new = render("k", kafka_table_sql("25.8.1".parse().unwrap()).unwrap(), &v).unwrap();
        assert!(new.contains("'RawBLOB'") && !new.contains("'CSV'"), "{new}");
        assert!(values("a; DROP").is_err());
    }

    #[test]
    fn parse_cost_lines() {
        let l = parse_cost_line(
            "sales_parse_mv's SELECT: 1.250 s for 199,997 messages = 159,998 messages/s per core",
        )
        .unwrap();
        assert_eq!(l.label, "sales_parse_mv's SELECT");
        assert_eq!(l.messages, 199_997);
        assert_eq!(l.messages_per_s, 159_998.0);
        assert!(parse_cost_line("nothing here").is_none());
    }
}
