//! Verifies that every message the Kafka engine committed is in ClickHouse, and replays
//! those that are not.
//!
//! Why: before the error stream mode (18.16 here) the engine can commit a message it never
//! wrote. Seen here: its CSV reader reads one message past a full block to find the row's
//! end, and when the stream ends on that block the extra message is committed unwritten
//! (one lost per such block: 1,382 consumed, 1,381 landed). And a message its reader cannot
//! take at all (a lone CR) is skipped, by the server profile's `input_format_allow_errors_*`,
//! because a failing stream is never committed and its retry path has crashed the server.
//!
//! How: per partition, the verifier keeps an offset below which every message is accounted
//! for (in `reconcile_state`, so a restart goes on from there). Each pass reads the
//! messages from there up to the group's committed offset, straight from the broker, and
//! looks up their event ids in the target table (within a day of their event_time, which
//! leads the ORDER BY) and their offsets in `dead_letter`. Whatever is in neither is
//! inserted into the replay table, whose views store it or dead-letter it with its offset.
//! A message the engine did write but the lookup missed would become a second copy, which
//! the duplicate check takes out of the figures.
//!
//! Cost: every message is read once more from the broker, and one indexed lookup per
//! few thousand events.

use std::collections::{HashMap, HashSet};

use clickhouse_http::statement;
use clickhouse_http::template::Values;
use clickhouse_http::{quote, Client};
use kafka_admin::KafkaSettings;
use serde::Deserialize;

use crate::replay::{self, Raw};
use reconcile::{Error, Result, Source};

statement!(EVENTS_FOUND = "guards/events_found" => EventId { event_id: String });
statement!(DEAD_LETTERED_OFFSETS = "guards/dead_lettered_offsets" => Offset { offset: i64 });
statement!(VERIFIED_OFFSETS = "guards/verified_offsets" => Verified {
    partition: i32,
    verified: i64,
});

/// Messages read per partition per pass, to bound memory.
const MAX_PER_PASS: i64 = 100_000;
/// Event ids per lookup query.
const IDS_PER_QUERY: usize = 5_000;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Messages read and looked up.
    pub checked: u64,
    /// Messages found in neither the target table nor the dead letters, replayed.
    pub replayed: u64,
}

pub struct Verify {
    client: Client,
    db: String,
    /// Where events and dead letters are looked up: `db`, or in cluster mode the
    /// Distributed tables over every shard (a partition's messages may be on any shard).
    lookup_db: String,
    kafka: KafkaSettings,
    sources: Vec<Source>,
    /// (topic, partition) → every message below this offset is accounted for.
    verified: HashMap<(String, i32), i64>,
}

/// The two fields a message is found by; anything else is the views' business.
#[derive(Deserialize)]
struct Probe {
    event_id: String,
    event_time: String,
}

impl Verify {
    /// `client` may write (replay inserts, the state table).
    pub fn new(client: Client, db: &str, kafka: KafkaSettings, sources: Vec<Source>) -> Self {
        Verify {
            client: client.with_database(db),
            db: db.to_string(),
            lookup_db: db.to_string(),
            kafka,
            sources,
            verified: HashMap::new(),
        }
    }

    /// Looks events and dead letters up in `db` (cluster mode: the Distributed tables)
    /// instead of the tables replays write to.
    pub fn looking_up_in(mut self, db: &str) -> Self {
        self.lookup_db = db.to_string();
        self
    }

    /// One pass over every source; safe to repeat.
    pub async fn pass(&mut self) -> Result<Pass> {
        let mut total = Pass::default();
        for source in self.sources.clone() {
            let p = self.pass_source(&source).await?;
            total.checked += p.checked;
            total.replayed += p.replayed;
        }
        Ok(total)
    }

    async fn pass_source(&mut self, source: &Source) -> Result<Pass> {
        let mut ranges = Vec::new();
        for p in reconcile::group_partitions(&self.kafka, source).await? {
            let Some(c) = p.committed else { continue };
            let from = self
                .verified_offset(&source.topic, p.partition)
                .await?
                .max(p.low);
            if from < c {
                ranges.push((p.partition, from, c.min(from + MAX_PER_PASS)));
            }
        }
        if ranges.is_empty() {
            return Ok(Pass::default());
        }
        let messages = {
            let (kafka, topic, r) = (self.kafka.clone(), source.topic.clone(), ranges.clone());
            tokio::task::spawn_blocking(move || replay::read_ranges(&kafka, &topic, &r))
                .await
                .map_err(|e| Error::Other(e.to_string()))??
        };
        let found = self.events_found(source, &messages).await?;
        let mut dead = HashSet::new();
        for (p, from, to) in &ranges {
            dead.extend(self.dead_lettered(source, *p, *from, *to).await?);
        }
        let missing: Vec<Raw> = messages
            .iter()
            .filter(|m| {
                !dead.contains(&(m.partition, m.offset))
                    && !probe(&m.payload).is_some_and(|(id, _)| found.contains(&id))
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            tracing::debug!(
                topic = source.topic,
                messages = missing.len(),
                first_partition = missing[0].partition,
                first_offset = missing[0].offset,
                "committed by the Kafka engine but in no table; replaying"
            );
            replay::insert(&self.client, &self.db, source, &missing).await?;
        }
        let reached: Vec<(i32, i64)> = ranges.iter().map(|(p, _, to)| (*p, *to)).collect();
        self.save(&source.topic, &reached).await?;
        Ok(Pass {
            checked: messages.len() as u64,
            replayed: missing.len() as u64,
        })
    }

    async fn verified_offset(&mut self, topic: &str, partition: i32) -> Result<i64> {
        let key = (topic.to_string(), partition);
        if let Some(o) = self.verified.get(&key) {
            return Ok(*o);
        }
        let o = reconcile::state::position(&self.client, &self.db, &state_key(topic, partition))
            .await?;
        self.verified.insert(key, o);
        Ok(o)
    }

    /// Records how far each partition is verified: one insert (one part) per pass.
    async fn save(&mut self, topic: &str, offsets: &[(i32, i64)]) -> Result<()> {
        let positions: Vec<(String, i64)> = offsets
            .iter()
            .map(|(p, o)| (state_key(topic, *p), *o))
            .collect();
        reconcile::state::save(&self.client, &self.db, &positions).await?;
        for (p, o) in offsets {
            self.verified.insert((topic.to_string(), *p), *o);
        }
        Ok(())
    }

    /// The event ids of `messages` that the target table holds.
    async fn events_found(&self, source: &Source, messages: &[Raw]) -> Result<HashSet<String>> {
        let probes: Vec<(String, String)> =
            messages.iter().filter_map(|m| probe(&m.payload)).collect();
        let mut found = HashSet::new();
        for chunk in probes.chunks(IDS_PER_QUERY) {
            let from = chunk
                .iter()
                .map(|(_, t)| t)
                .min()
                .expect("chunk is not empty");
            let to = chunk
                .iter()
                .map(|(_, t)| t)
                .max()
                .expect("chunk is not empty");
            let ids: Vec<String> = chunk.iter().map(|(id, _)| quote(id)).collect();
            let values = Values::new()
                .ident("table", &source.target_table)
                .string("from_time", from.as_str())
                .string("to_time", to.as_str())
                .sql("ids", ids.join(","));
            let rows = reconcile::rows(&self.client, &EVENTS_FOUND, &self.lookup_db, values);
            found.extend(rows.await?.into_iter().map(|r| r.event_id));
        }
        Ok(found)
    }

    async fn dead_lettered(
        &self,
        source: &Source,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i32, i64)>> {
        let values = Values::new()
            .string("topic", &source.topic)
            .int("partition", partition)
            .int("from_offset", from)
            .int("to_offset", to);
        let rows = reconcile::rows(
            &self.client,
            &DEAD_LETTERED_OFFSETS,
            &self.lookup_db,
            values,
        );
        Ok(rows
            .await?
            .into_iter()
            .map(|r| (partition, r.offset))
            .collect())
    }

    /// Passes until every message the groups have committed is accounted for (a pass
    /// reads at most 100,000 messages a partition); what they did together. Run once more
    /// when `pipeline up` stops, after the Kafka tables stopped reading.
    pub async fn catch_up(&mut self) -> Result<Pass> {
        let mut total = Pass::default();
        loop {
            let p = self.pass().await?;
            if p.checked == 0 {
                return Ok(total);
            }
            total.checked += p.checked;
            total.replayed += p.replayed;
        }
    }

    /// Passes every `period` until `stop` is cancelled; errors are logged and retried. What was
    /// replayed is logged at most every 30 s (on 18.16 under steady load, a message or two
    /// every second is normal: see the module's note).
    pub async fn run(self, period: std::time::Duration, stop: tokio_util::sync::CancellationToken) {
        self.run_counted(period, stop, reconcile::GuardStats::new())
            .await
    }

    /// [`Verify::run`], each pass counted in `stats` (guard `verify`), which logs failures.
    pub async fn run_counted(
        mut self,
        period: std::time::Duration,
        stop: tokio_util::sync::CancellationToken,
        stats: std::sync::Arc<reconcile::GuardStats>,
    ) {
        use reconcile::guards::{MESSAGES_REPLAYED, VERIFY};
        stats.register(VERIFY);
        let mut since = std::time::Instant::now();
        let mut replayed = 0;
        while !stop.is_cancelled() {
            match self.pass().await {
                Ok(p) => {
                    replayed += p.replayed;
                    stats.add(VERIFY, MESSAGES_REPLAYED, p.replayed);
                    stats.passed(VERIFY);
                }
                Err(e) => stats.failed(VERIFY, &e),
            }
            if replayed > 0 && since.elapsed() >= std::time::Duration::from_secs(30) {
                tracing::info!(
                    messages = replayed,
                    seconds = since.elapsed().as_secs(),
                    "verifier: replayed messages the Kafka engine committed but never wrote"
                );
                (since, replayed) = (std::time::Instant::now(), 0);
            }
            if !reconcile::guards::next_pass(&stop, period).await {
                break;
            }
        }
    }
}

/// Per partition of `topic`, the offset below which the verifier has accounted for every
/// message; empty where it never ran. (`client` may be read-only.)
pub async fn verified_offsets(client: &Client, db: &str, topic: &str) -> Result<HashMap<i32, i64>> {
    let values = Values::new().string("prefix", format!("verified:{topic}:"));
    let rows = reconcile::rows(client, &VERIFIED_OFFSETS, db, values).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.partition, r.verified))
        .collect())
}

/// Where a partition's verified offset is kept in `reconcile_state`.
fn state_key(topic: &str, partition: i32) -> String {
    format!("verified:{topic}:{partition}")
}

/// The event id and event time ('YYYY-MM-DD HH:MM:SS') a message can be found by; `None`
/// for one the views refuse anyway (it can only be a dead letter).
fn probe(payload: &[u8]) -> Option<(String, String)> {
    let p: Probe = serde_json::from_slice(payload).ok()?;
    let t = p.event_time.as_bytes();
    let shaped = t.len() == 19
        && t.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ' || *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    (shaped && !p.event_id.is_empty()).then(|| (p.event_id, p.event_time.replace('T', " ")))
}

#[cfg(test)]
mod tests {
    use super::probe;

    #[test]
    fn probes_what_a_message_is_found_by() {
        assert_eq!(
            probe(br#"{"event_id":"e1","event_time":"2026-11-25T10:00:00","x":1}"#),
            Some(("e1".into(), "2026-11-25 10:00:00".into()))
        );
        assert_eq!(
            probe(br#"{"event_id":"e1","event_time":"yesterday"}"#),
            None
        );
        assert_eq!(
            probe(br#"{"event_id":"","event_time":"2026-11-25 10:00:00"}"#),
            None
        );
        assert_eq!(probe(b"{\"event_id\":\"cr\"\x7f\r oops"), None);
    }
}
