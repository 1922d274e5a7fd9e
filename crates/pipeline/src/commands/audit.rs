//! `pipeline audit`: what the broker holds against what ClickHouse holds, per topic.
//!
//! produced  = messages on the topic (end − start offsets, summed over partitions);
//! consumed  = of those, what ClickHouse's consumer group has committed: it commits only
//!             after the block is written, so each of these must be in a table;
//! pending   = produced − consumed (the lag, not yet read);
//! landed    = rows in the target table, `unique` = distinct event ids among them;
//! duplicates = landed − unique (the Kafka engine delivers at least once);
//! acknowledged (with --ledger) = what the generator's ledgers say the broker acknowledged;
//!             any of it not on the broker is lost by the broker and counts as missing.
//! missing   = consumed − unique − dead: committed but in no table. Any missing → exit
//!             code 1. Where `pipeline up`'s verifier runs (18.16), a message the engine
//!             committed unwritten is in no table for up to a second, until the verifier
//!             replays it; so the tables are read once the verifier has passed the committed
//!             offsets read first (or after 10 s). Under a live flow, events that land after
//!             those offsets count too: exact figures want the flow paused.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Wait up to this long (e.g. 30s) for ClickHouse to read what is pending before judging.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The generator's own ledger: a file holding the `--json` summary of `pipeline
    /// generate` (one per line, or several files). Its acknowledged messages (events and bad
    /// ones) per topic are compared with what the broker holds: fewer on the broker means
    /// the broker lost messages it had acknowledged (exit 1).
    #[arg(long, value_name = "FILE")]
    pub ledger: Vec<std::path::PathBuf>,
}

/// Messages the generator's ledgers say the broker acknowledged, per topic.
fn read_ledgers(
    files: &[std::path::PathBuf],
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let mut acked = std::collections::BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading the ledger {}", f.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let summary: serde_json::Value = serde_json::from_str(line).with_context(|| {
                format!(
                    "{} line {}: not a `pipeline generate --json` summary",
                    f.display(),
                    i + 1
                )
            })?;
            let topics = summary["topics"].as_array().with_context(|| {
                format!(
                    "{} line {}: no \"topics\" list (a `pipeline generate --json` summary has one)",
                    f.display(),
                    i + 1
                )
            })?;
            for t in topics {
                let (Some(name), Some(events)) = (t["topic"].as_str(), t["events"].as_u64()) else {
                    anyhow::bail!(
                        "{} line {}: a topic without \"topic\" or \"events\"",
                        f.display(),
                        i + 1
                    );
                };
                *acked.entry(name.to_string()).or_insert(0) +=
                    events + t["bad"].as_u64().unwrap_or(0);
            }
        }
    }
    Ok(acked)
}

#[derive(Debug, Clone, Serialize)]
struct PartitionAudit {
    partition: i32,
    start: i64,
    end: i64,
    committed: Option<i64>,
    lag: i64,
}

#[derive(Debug, Clone, Serialize)]
struct TopicAudit {
    topic: String,
    table: String,
    group: String,
    produced: i64,
    consumed: i64,
    pending: i64,
    landed: u64,
    unique: u64,
    duplicates: u64,
    dead_lettered: u64,
    /// Of the dead letters: replayed by `pipeline dead-letters replay` and landed; replayed
    /// and refused again (each such replay is itself a newer dead letter, counted above);
    /// the rest, still open.
    dead_replayed_landed: u64,
    dead_replayed_refused_again: u64,
    dead_open: u64,
    missing: u64,
    /// Events the table's minute rollup (the dashboard) counts, and the corrections the
    /// rollup check has written to it: `counted` equals `unique` once settled.
    counted: i64,
    rollup_corrections: u64,
    /// From the generator's ledgers (`--ledger`): messages the broker acknowledged, and how
    /// many of them the broker no longer holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_by_broker: Option<u64>,
    partitions: Vec<PartitionAudit>,
}

async fn audit_topic(config: &Config, topic: &str, table: &str) -> anyhow::Result<TopicAudit> {
    let group = config.schema().group_for(topic);
    let (kafka, t, g) = (config.kafka(), topic.to_string(), group.clone());
    let partitions =
        tokio::task::spawn_blocking(move || -> publish::Result<Vec<PartitionAudit>> {
            let timeout = Duration::from_secs(5);
            Ok(kafka_admin::group_partitions(&kafka, &g, &t, timeout)?
                .iter()
                .map(|p| PartitionAudit {
                    partition: p.partition,
                    start: p.low,
                    end: p.high,
                    committed: p.committed,
                    lag: p.lag(),
                })
                .collect())
        })
        .await?
        .with_context(|| format!("reading offsets of topic {topic}"))?;
    let reader = config.clickhouse().with_setting("readonly", 2);
    verifier_caught_up(&reader, &config.database, topic, &partitions).await?;
    let queries = query::Queries::new(reader, &config.query_database())?
        .distributed(config.cluster.is_some());
    let held = queries
        .table_audit(table)
        .await
        .with_context(|| format!("reading {}.{table}", config.database))?;
    let dead_lettered = queries
        .dead_letters()
        .await
        .with_context(|| format!("reading {}.dead_letter", config.database))?
        .get(topic)
        .copied()
        .unwrap_or(0);
    let replays = super::dead_letters::replay_summary(queries.client(), &config.query_database())
        .await?
        .get(topic)
        .copied()
        .unwrap_or_default();
    let produced: i64 = partitions.iter().map(|p| p.end - p.start).sum();
    let pending: i64 = partitions.iter().map(|p| p.lag).sum();
    let consumed = produced - pending;
    Ok(TopicAudit {
        topic: topic.to_string(),
        table: table.to_string(),
        group,
        produced,
        consumed,
        pending,
        landed: held.rows,
        unique: held.unique_events,
        duplicates: held.rows - held.unique_events,
        dead_lettered,
        dead_replayed_landed: replays.replayed_landed,
        dead_replayed_refused_again: replays.failed_again,
        dead_open: dead_lettered.saturating_sub(replays.replayed_landed + replays.failed_again),
        // A consumed message is either an event (counted once) or a dead letter.
        missing: (consumed.max(0) as u64).saturating_sub(held.unique_events + dead_lettered),
        counted: held.counted,
        rollup_corrections: held.corrections,
        acknowledged: None,
        lost_by_broker: None,
        partitions,
    })
}

/// Waits (up to 10 s) until the verifier, where it runs, has accounted for every message
/// below the committed offsets just read.
async fn verifier_caught_up(
    reader: &clickhouse_http::Client,
    db: &str,
    topic: &str,
    partitions: &[PartitionAudit],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let verified = clickhouse_18_16::verify::verified_offsets(reader, db, topic)
            .await
            .with_context(|| format!("reading the verifier's offsets in {db}"))?;
        let behind = !verified.is_empty()
            && partitions.iter().any(|p| {
                p.committed
                    .is_some_and(|c| verified.get(&p.partition).copied().unwrap_or(0) < c)
            });
        if !behind || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn run(config: &Config, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let pairs = [
        (config.sales_topic.as_str(), "sales"),
        (config.warehouse_topic.as_str(), "stock_movements"),
    ];
    let audits = loop {
        let mut audits = Vec::new();
        for (topic, table) in pairs {
            audits.push(audit_topic(config, topic, table).await?);
        }
        let pending = audits.iter().any(|a: &TopicAudit| a.pending > 0);
        match args.wait {
            Some(w) if pending && started.elapsed() < w => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            _ => break audits,
        }
    };
    let mut audits = audits;
    if !args.ledger.is_empty() {
        let acked = read_ledgers(&args.ledger)?;
        for a in &mut audits {
            let n = acked.get(&a.topic).copied().unwrap_or(0);
            a.acknowledged = Some(n);
            a.lost_by_broker = Some(n.saturating_sub(a.produced.max(0) as u64));
        }
    }
    let lost_by_broker: u64 = audits.iter().filter_map(|a| a.lost_by_broker).sum();
    let missing: u64 = audits.iter().map(|a| a.missing).sum::<u64>() + lost_by_broker;
    // 18.16: `pipeline up` pauses the Kafka tables when it stops (schema::pause_ingest).
    let paused = schema::paused_ingest(&config.clickhouse(), &config.database)
        .await
        .context("reading whether the Kafka tables are paused")?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "database": config.database, "topics": audits, "missing": missing, "lost_by_broker": lost_by_broker, "paused": paused })
        );
    } else {
        if !paused.is_empty() {
            println!(
                "paused: {} read nothing until the next `pipeline up` (ClickHouse 18.16: only \
                 `up` runs the verifier that replays what the engine commits unwritten); what \
                 waits on the topics shows as pending",
                paused.join(", ")
            );
        }
        println!(
            "{:<16} {:<16} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>8} {:>8}",
            "topic",
            "table",
            "produced",
            "consumed",
            "pending",
            "landed",
            "unique",
            "duplicates",
            "dead",
            "missing"
        );
        for a in &audits {
            println!(
                "{:<16} {:<16} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>8} {:>8}",
                a.topic,
                a.table,
                a.produced,
                a.consumed,
                a.pending,
                a.landed,
                a.unique,
                a.duplicates,
                a.dead_lettered,
                a.missing
            );
        }
        for a in &audits {
            let lags: Vec<String> = a
                .partitions
                .iter()
                .map(|p| format!("{}={}", p.partition, p.lag))
                .collect();
            println!(
                "lag of group {} on {} by partition: {}",
                a.group,
                a.topic,
                lags.join(" ")
            );
        }
        for a in &audits {
            println!(
                "rollup of {}: counts {} events{} · {} correction(s) written by the rollup check",
                a.table,
                a.counted,
                if a.counted == a.unique as i64 {
                    " (= unique)".to_string()
                } else {
                    format!(
                        " · DIFFERS from unique by {:+} (settling?)",
                        a.counted - a.unique as i64
                    )
                },
                a.rollup_corrections
            );
        }
        for a in audits.iter().filter(|a| a.dead_lettered > 0) {
            println!(
                "dead letters of {}: {} · resolved by a replay that landed {} · replayed and refused again {} \
                 (now newer dead letters) · still open {}",
                a.topic,
                a.dead_lettered,
                a.dead_replayed_landed,
                a.dead_replayed_refused_again,
                a.dead_open
            );
        }
        for a in audits.iter().filter(|a| a.acknowledged.is_some()) {
            println!(
                "ledger of {}: {} acknowledged, {} on the broker{}",
                a.topic,
                a.acknowledged.unwrap_or(0),
                a.produced,
                match a.lost_by_broker {
                    Some(n) if n > 0 => format!(" · LOST BY THE BROKER {n}"),
                    _ => String::new(),
                }
            );
        }
        println!(
            "{}",
            if missing == 0 {
                "nothing missing".to_string()
            } else {
                format!(
                    "MISSING {missing} message(s): committed by ClickHouse's group but in no table, or acknowledged to the generator but not on the broker"
                )
            }
        );
    }
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
