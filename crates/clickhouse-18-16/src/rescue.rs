//! Rescues a Kafka table that stopped at a message its reader cannot take.
//!
//! Servers with the error stream mode (21.6+) never stop at a bad message: the views get it
//! as a row with `_error`. 18.16 has no such mode; its Kafka tables read each message as
//! one raw CSV line (see sql/ingest/sales_kafka.sql) and the views refuse bad ones into
//! `dead_letter`, but a lone CR or a DEL byte still makes the CSV reader throw, and the
//! engine then retries the same block forever without committing.
//!
//! A table is *stalled* when messages wait (end offset > committed offset) and its group's
//! committed offsets have not moved for `stall_after`. The rescue then:
//! 1. reads every waiting message, from the offsets the group stalled at to the end it
//!    sees, with a plain consumer (assigned partitions, no group);
//! 2. inserts them, bytes untouched, with topic/partition/offset, into the `*_replay` Null
//!    table, whose views parse and route them exactly as the Kafka table's views would
//!    (rows, rollups, dead letters);
//! 3. commits those end offsets for the group. The stalled engine never commits (each try
//!    fails), and after each failure it leaves and rejoins the group, which makes it fetch
//!    the committed offsets again: its next try starts past the message it could not read.
//!
//! The table is never detached: 18.16 destroying a consumer that has just failed and
//! rejoined has aborted the whole server here (librdkafka's `rd_kafka_cgrp_destroy_final`
//! assertion), and a detach commits what the consumer had read, written or not.
//! A crash between 2 and 3 replays those messages again: at-least-once, like the engine
//! itself, and the duplicate check takes the copies out of the figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clickhouse_http::Client;
use kafka_admin::KafkaSettings;

use crate::replay;
use reconcile::{Error, Result};

pub use reconcile::Source;

/// A finished rescue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    pub topic: String,
    pub messages: u64,
}

struct Watch {
    committed: Vec<(i32, Option<i64>)>,
    since: Instant,
    quiet_until: Instant,
}

pub struct Rescue {
    client: Client,
    db: String,
    kafka: KafkaSettings,
    sources: Vec<Source>,
    stall_after: Duration,
    watch: HashMap<String, Watch>,
}

/// After a rescue the engine fetches the new offsets at its next try (it rejoins its group
/// after each failure); judge it again soon, so that a stream with many unreadable
/// messages is held up for seconds, not tens of them.
const GRACE: Duration = Duration::from_secs(2);
/// After ClickHouse or the broker was away, how long the Kafka engine has to resume before
/// a table that commits nothing counts as stalled (a rescue would replay the whole backlog
/// the engine is about to read).
const RESUME_GRACE: Duration = Duration::from_secs(30);

impl Rescue {
    pub fn new(
        client: Client,
        db: &str,
        kafka: KafkaSettings,
        sources: Vec<Source>,
        stall_after: Duration,
    ) -> Self {
        Rescue {
            client: client.with_database(db),
            db: db.to_string(),
            kafka,
            sources,
            stall_after,
            watch: HashMap::new(),
        }
    }

    /// Looks at every source once; rescues those stalled for `stall_after`.
    pub async fn check(&mut self) -> Result<Vec<Rescued>> {
        let mut done = Vec::new();
        for source in self.sources.clone() {
            let group = match reconcile::group_partitions(&self.kafka, &source).await {
                Ok(o) => o,
                Err(e) => {
                    // The broker away: once it answers, the engine has RESUME_GRACE to
                    // reconnect before a table counts as stalled (every table: this pass
                    // ends here).
                    for w in self.watch.values_mut() {
                        w.quiet_until = Instant::now() + RESUME_GRACE;
                    }
                    return Err(e);
                }
            };
            let now = Instant::now();
            let waiting = group.iter().any(|p| p.lag() > 0);
            let committed: Vec<(i32, Option<i64>)> =
                group.iter().map(|p| (p.partition, p.committed)).collect();
            let w = self.watch.entry(source.topic.clone()).or_insert(Watch {
                committed: committed.clone(),
                since: now,
                quiet_until: now,
            });
            if w.committed != committed || !waiting {
                w.committed = committed;
                w.since = now;
                continue;
            }
            if now.duration_since(w.since) < self.stall_after {
                continue;
            }
            // ClickHouse itself away (stopped, restarting): the table is not stuck, and a
            // replay could not be written. Without this, each pass of an outage read the
            // whole growing backlog from the broker and failed to write it, and once the
            // server was back (its engine takes 5-10 s to rejoin its group) replayed all of
            // it beside the engine: 117,475 messages, as many copies. It is asked at every
            // look at a stalled table, quiet or not, so the engine has RESUME_GRACE from
            // when ClickHouse answers again, not from the last look before (seen: a grace
            // counted from a look 30 s into the outage ran out 6 s after ClickHouse came
            // back, and the rescue replayed the 50,727 waiting messages beside the engine).
            if let Err(e) = self.client.ping().await {
                tracing::debug!(error = %e, table = source.kafka_table,
                    "messages wait, but ClickHouse does not answer: no rescue");
                let w = self.watch.get_mut(&source.topic).expect("inserted above");
                w.since = Instant::now();
                w.quiet_until = Instant::now() + RESUME_GRACE;
                continue;
            }
            let w = self.watch.get_mut(&source.topic).expect("inserted above");
            if Instant::now() < w.quiet_until {
                continue;
            }
            tracing::warn!(
                table = source.kafka_table,
                topic = source.topic,
                stalled_s = now.duration_since(w.since).as_secs(),
                "Kafka table stalled with messages waiting; rescuing"
            );
            let stalled_at = w.committed.clone();
            let r = self.rescue(&source, &stalled_at).await;
            let w = self.watch.get_mut(&source.topic).expect("inserted above");
            w.since = Instant::now();
            w.quiet_until = Instant::now() + GRACE;
            done.push(r?);
        }
        Ok(done)
    }

    /// Replays what waits, from the offsets the group stalled at, and commits past it.
    pub async fn rescue(
        &self,
        source: &Source,
        stalled_at: &[(i32, Option<i64>)],
    ) -> Result<Rescued> {
        let messages = self.replay_waiting(source, stalled_at).await?;
        tracing::warn!(
            table = source.kafka_table,
            topic = source.topic,
            messages,
            "rescued: waiting messages replayed through the views and committed"
        );
        Ok(Rescued {
            topic: source.topic.clone(),
            messages,
        })
    }

    async fn replay_waiting(
        &self,
        source: &Source,
        stalled_at: &[(i32, Option<i64>)],
    ) -> Result<u64> {
        let mut todo = Vec::new();
        for p in reconcile::group_partitions(&self.kafka, source).await? {
            let before = stalled_at
                .iter()
                .find(|(q, _)| *q == p.partition)
                .and_then(|(_, o)| *o);
            let from = match (before, p.committed) {
                (Some(b), Some(c)) => b.min(c),
                (b, c) => b.or(c).unwrap_or(p.low),
            }
            .max(p.low);
            if from < p.high {
                todo.push((p.partition, from, p.high));
            }
        }
        let kafka = self.kafka.clone();
        let topic = source.topic.clone();
        let todo2 = todo.clone();
        let messages =
            tokio::task::spawn_blocking(move || replay::read_ranges(&kafka, &topic, &todo2))
                .await
                .map_err(|e| Error::Other(e.to_string()))??;
        replay::insert(&self.client, &self.db, source, &messages).await?;
        let commits: Vec<(i32, i64)> = todo.iter().map(|(p, _, high)| (*p, *high)).collect();
        if !commits.is_empty() {
            let kafka = self.kafka.clone();
            let (group, topic) = (source.group.clone(), source.topic.clone());
            tokio::task::spawn_blocking(move || {
                kafka_admin::commit_offsets(&kafka, &group, &topic, &commits)
            })
            .await
            .map_err(|e| Error::Other(e.to_string()))??;
        }
        Ok(messages.len() as u64)
    }

    /// Checks every `period` until `stop` is cancelled; errors are logged and retried.
    pub async fn run(self, period: Duration, stop: tokio_util::sync::CancellationToken) {
        self.run_counted(period, stop, reconcile::GuardStats::new())
            .await
    }

    /// [`Rescue::run`], each check counted in `stats` (guard `rescue`), which logs failures.
    pub async fn run_counted(
        mut self,
        period: Duration,
        stop: tokio_util::sync::CancellationToken,
        stats: std::sync::Arc<reconcile::GuardStats>,
    ) {
        use reconcile::guards::{MESSAGES_RESCUED, RESCUE, RESCUES};
        stats.register(RESCUE);
        while !stop.is_cancelled() {
            match self.check().await {
                Ok(done) => {
                    stats.add(RESCUE, RESCUES, done.len() as u64);
                    stats.add(
                        RESCUE,
                        MESSAGES_RESCUED,
                        done.iter().map(|r| r.messages).sum(),
                    );
                    stats.passed(RESCUE);
                }
                Err(e) => stats.failed(RESCUE, &e),
            }
            if !reconcile::guards::next_pass(&stop, period).await {
                break;
            }
        }
    }
}
