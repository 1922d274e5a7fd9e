//! The other door into the parsing views: messages read straight from the broker and
//! inserted, bytes untouched, with topic/partition/offset, into a `*_replay` Null table
//! whose views parse and route them exactly as the Kafka table's views do. Used by the
//! rescue (a stalled table) and the verifier (a message the engine skipped or lost).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clickhouse_http::template::Values;
use clickhouse_http::Client;
use kafka_admin::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use reconcile::{Error, Result, Source};

/// Rows per replay insert.
const BATCH: usize = 20_000;

/// Inserts `messages` of `source.topic` into its replay table.
pub async fn insert(client: &Client, db: &str, source: &Source, messages: &[Raw]) -> Result<()> {
    let insert = reconcile::sql(
        "guards/insert_replay.sql",
        include_str!("../sql/guards/insert_replay.sql"),
        db,
        Values::new().ident("table", &source.replay_table),
    )?;
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
        client.insert(&insert, body).await?;
    }
    Ok(())
}

/// One message as read from the broker.
#[derive(Clone)]
pub struct Raw {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub payload: Vec<u8>,
}

/// Every message of `topic` in [from, to) per partition, read without a group.
pub(crate) fn read_ranges(
    kafka: &KafkaSettings,
    topic: &str,
    ranges: &[(i32, i64, i64)],
) -> Result<Vec<Raw>> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let consumer: BaseConsumer = {
        let mut c = kafka.client_config();
        c.set("group.id", "pipeline-replay");
        c.set("enable.auto.commit", "false");
        c.set("enable.partition.eof", "false");
        c.create().map_err(kafka_admin::Error::from)?
    };
    let mut tpl = TopicPartitionList::new();
    for (p, from, _) in ranges {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*from))
            .map_err(kafka_admin::Error::from)?;
    }
    consumer.assign(&tpl).map_err(kafka_admin::Error::from)?;
    let mut left: HashMap<i32, i64> = ranges.iter().map(|(p, _, to)| (*p, *to)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !left.is_empty() {
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "could not read the messages of {topic} to replay within 60 s"
            )));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let msg = msg.map_err(kafka_admin::Error::from)?;
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
