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
//! 1. `DETACH`es the Kafka table (its consumer leaves the group; committed offsets are final);
//! 2. reads every waiting message, from the committed offset to the end it saw, with a
//!    plain consumer (assigned partitions, no group);
//! 3. inserts them, bytes untouched, with topic/partition/offset, into the `*_replay` Null
//!    table, whose views parse and route them exactly as the Kafka table's views would
//!    (rows, rollups, dead letters);
//! 4. commits those end offsets for the group and `ATTACH`es the table again, which goes on
//!    from there. (Attaching happens whatever failed before it.)
//!
//! A crash between 3 and 4 makes the engine read those messages again: at-least-once, like
//! the engine itself, and the duplicate check takes the copies out of the figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clickhouse_http::Client;
use publish::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::{Error, Result};

/// One Kafka table and where its messages can be replayed.
#[derive(Debug, Clone)]
pub struct Source {
    pub kafka_table: String,
    pub replay_table: String,
    pub topic: String,
    pub group: String,
}

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

const TIMEOUT: Duration = Duration::from_secs(5);
/// After a rescue the table rejoins its group; give it time before judging it again.
const GRACE: Duration = Duration::from_secs(15);
/// Rows per replay insert.
const BATCH: usize = 20_000;

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
            let (ends, committed) = self.offsets(&source).await?;
            let now = Instant::now();
            let waiting = ends
                .iter()
                .zip(&committed)
                .any(|((_, low, high), (_, c))| c.unwrap_or(*low) < *high);
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
            if now.duration_since(w.since) < self.stall_after || now < w.quiet_until {
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

    /// (partition, low, high) and the group's committed offsets, from the broker.
    async fn offsets(
        &self,
        source: &Source,
    ) -> Result<(Vec<(i32, i64, i64)>, Vec<(i32, Option<i64>)>)> {
        let kafka = self.kafka.clone();
        let s = source.clone();
        tokio::task::spawn_blocking(move || {
            let parts = publish::partition_offsets(&kafka, &s.topic, TIMEOUT)?;
            let ids: Vec<i32> = parts.iter().map(|p| p.partition).collect();
            let committed = publish::committed_offsets(&kafka, &s.group, &s.topic, &ids, TIMEOUT)?;
            Ok((
                parts.iter().map(|p| (p.partition, p.low, p.high)).collect(),
                committed,
            ))
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?
    }

    /// Detach, replay what waits, commit, attach (always). `stalled_at` is the group's
    /// committed offsets seen while the table stood still: the replay starts there even if
    /// detaching moved them, because 18.16 commits what its consumer had read when it closes,
    /// written or not (seen here: a partial block lost that way). Replaying a block that was
    /// written is harmless: the duplicate check takes the copies out.
    pub async fn rescue(
        &self,
        source: &Source,
        stalled_at: &[(i32, Option<i64>)],
    ) -> Result<Rescued> {
        let table = format!("{}.{}", self.db, source.kafka_table);
        self.client
            .execute(&format!("DETACH TABLE {table}"))
            .await?;
        let moved = self.replay_waiting(source, stalled_at).await;
        let attached = self.client.execute(&format!("ATTACH TABLE {table}")).await;
        let messages = moved?;
        attached?;
        tracing::warn!(
            table = source.kafka_table,
            topic = source.topic,
            messages,
            "rescued: waiting messages replayed through the views, table attached again"
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
        let (ends, committed) = self.offsets(source).await?;
        let mut todo = Vec::new();
        for ((p, low, high), (_, c)) in ends.iter().zip(&committed) {
            let before = stalled_at
                .iter()
                .find(|(q, _)| q == p)
                .and_then(|(_, o)| *o);
            let from = match (before, c) {
                (Some(b), Some(c)) => b.min(*c),
                (b, c) => b.or(*c).unwrap_or(*low),
            }
            .max(*low);
            if from < *high {
                todo.push((*p, from, *high));
            }
        }
        let kafka = self.kafka.clone();
        let topic = source.topic.clone();
        let todo2 = todo.clone();
        let messages = tokio::task::spawn_blocking(move || read_ranges(&kafka, &topic, &todo2))
            .await
            .map_err(|e| Error::Other(e.to_string()))??;
        let insert = format!(
            "INSERT INTO {}.{} (raw, message_topic, message_partition, message_offset, message_timestamp_ms) FORMAT TabSeparated",
            self.db, source.replay_table
        );
        for chunk in messages.chunks(BATCH) {
            let mut body = Vec::new();
            for m in chunk {
                tsv_escape(&m.payload, &mut body);
                body.extend_from_slice(
                    format!(
                        "\t{}\t{}\t{}\t{}\n",
                        tsv_text(&source.topic),
                        m.partition,
                        m.offset,
                        m.timestamp_ms
                    )
                    .as_bytes(),
                );
            }
            self.client.insert(&insert, body).await?;
        }
        let commits: Vec<(i32, i64)> = todo.iter().map(|(p, _, high)| (*p, *high)).collect();
        if !commits.is_empty() {
            let kafka = self.kafka.clone();
            let (group, topic) = (source.group.clone(), source.topic.clone());
            tokio::task::spawn_blocking(move || {
                publish::commit_offsets(&kafka, &group, &topic, &commits)
            })
            .await
            .map_err(|e| Error::Other(e.to_string()))??;
        }
        Ok(messages.len() as u64)
    }

    /// Checks every `period` until `stop` is set; errors are logged and retried.
    pub async fn run(
        mut self,
        period: Duration,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        while !stop.load(Relaxed) {
            if let Err(e) = self.check().await {
                tracing::debug!(error = %e, "stall check failed; retrying");
            }
            tokio::time::sleep(period).await;
        }
    }
}

struct Raw {
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    payload: Vec<u8>,
}

/// Every message of `topic` in [from, to) per partition, read without a group.
fn read_ranges(kafka: &KafkaSettings, topic: &str, ranges: &[(i32, i64, i64)]) -> Result<Vec<Raw>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let consumer: BaseConsumer = {
        let mut c = kafka.client_config();
        c.set("group.id", "pipeline-rescue");
        c.set("enable.auto.commit", "false");
        c.set("enable.partition.eof", "false");
        c.create().map_err(publish::Error::from)?
    };
    let mut tpl = TopicPartitionList::new();
    for (p, from, _) in ranges {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*from))
            .map_err(publish::Error::from)?;
    }
    consumer.assign(&tpl).map_err(publish::Error::from)?;
    let mut left: HashMap<i32, i64> = ranges.iter().map(|(p, _, to)| (*p, *to)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !left.is_empty() {
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "rescue: could not read the waiting messages of {topic} within 60 s"
            )));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let msg = msg.map_err(publish::Error::from)?;
        let (p, o) = (msg.partition(), msg.offset());
        let Some(&to) = left.get(&p) else { continue };
        if o < to {
            out.push(Raw {
                partition: p,
                offset: o,
                timestamp_ms: msg.timestamp().to_millis().unwrap_or(0),
                payload: msg.payload().unwrap_or_default().to_vec(),
            });
        }
        if o + 1 >= to {
            left.remove(&p);
        }
    }
    Ok(out)
}

/// TabSeparated escaping: every byte string survives, whatever it holds.
fn tsv_escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

fn tsv_text(s: &str) -> String {
    let mut v = Vec::new();
    tsv_escape(s.as_bytes(), &mut v);
    String::from_utf8(v).expect("escaping keeps UTF-8")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tsv_escape_keeps_every_byte() {
        let mut out = Vec::new();
        super::tsv_escape(b"a\tb\nc\rd\\e\0f\x7f\xff", &mut out);
        assert_eq!(out, b"a\\tb\\nc\\rd\\\\e\\0f\x7f\xff");
    }
}
