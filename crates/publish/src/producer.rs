//! A producer whose every delivery is checked: acknowledged and failed messages are counted
//! per topic in the delivery callback, with the sums the audit compares against ClickHouse.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use kafka_admin::BrokerErrors;

use crate::{Error, KafkaSettings, Result};

/// Live counters of one topic. `sent` counts messages handed to librdkafka; each ends as
/// exactly one of `acked` (events), `bad_acked` (deliberately bad messages) or `failed`.
#[derive(Debug, Default)]
pub struct TopicCounters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub bad_acked: AtomicU64,
    pub failed: AtomicU64,
    pub acked_bytes: AtomicU64,
    sent_quantity: AtomicI64,
    sent_total_cents: AtomicI64,
    failed_quantity: AtomicI64,
    failed_total_cents: AtomicI64,
}

/// What one topic received for sure: the acknowledged events and their sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopicLedger {
    /// Acknowledged events; `quantity` and `total_cents` are their sums.
    pub events: u64,
    /// Acknowledged bytes, of events and bad messages alike.
    pub bytes: u64,
    /// Acknowledged bad messages (`--bad-ratio`), in none of the other figures but `bytes`.
    pub bad: u64,
    /// Messages that failed, events and bad messages alike.
    pub failed: u64,
    pub in_flight: u64,
    pub quantity: i64,
    pub total_cents: i64,
}

impl TopicCounters {
    /// Acknowledged events and sums. Exact once nothing is in flight (after a flush).
    pub fn ledger(&self) -> TopicLedger {
        let (sent, acked, bad, failed) = (
            self.sent.load(Relaxed),
            self.acked.load(Relaxed),
            self.bad_acked.load(Relaxed),
            self.failed.load(Relaxed),
        );
        let in_flight = sent.saturating_sub(acked + bad + failed);
        TopicLedger {
            events: acked,
            bytes: self.acked_bytes.load(Relaxed),
            bad,
            failed,
            in_flight,
            quantity: self.sent_quantity.load(Relaxed) - self.failed_quantity.load(Relaxed),
            total_cents: self.sent_total_cents.load(Relaxed)
                - self.failed_total_cents.load(Relaxed),
        }
    }
}

/// A few acknowledged events per second, with the time the broker confirmed them: the
/// health panel looks for them in ClickHouse to measure produce → queryable latency.
#[derive(Debug, Default)]
pub struct LatencyProbe {
    samples: Mutex<ProbeState>,
}

#[derive(Debug, Default)]
struct ProbeState {
    last: Option<Instant>,
    pending: VecDeque<(usize, String, SystemTime)>,
}

impl LatencyProbe {
    const EVERY: Duration = Duration::from_millis(200);
    const KEEP: usize = 512;

    fn offer(&self, topic: usize, payload: &[u8]) {
        let mut s = self.samples.lock().expect("probe lock");
        let now = Instant::now();
        if s.last.is_some_and(|t| now.duration_since(t) < Self::EVERY) {
            return;
        }
        // Every event starts with {"event_id":"<36 chars>" (the contract's first field).
        let Some(id) = payload
            .get(13..49)
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            return;
        };
        if !payload.starts_with(br#"{"event_id":""#) {
            return;
        }
        s.last = Some(now);
        s.pending
            .push_back((topic, id.to_string(), SystemTime::now()));
        while s.pending.len() > Self::KEEP {
            s.pending.pop_front();
        }
    }

    /// Takes the samples gathered so far: (topic index, event_id, acknowledged at).
    pub fn take(&self) -> Vec<(usize, String, SystemTime)> {
        self.samples
            .lock()
            .expect("probe lock")
            .pending
            .drain(..)
            .collect()
    }
}

pub struct DeliveryContext {
    topics: Vec<String>,
    counters: Vec<Arc<TopicCounters>>,
    probe: Arc<LatencyProbe>,
    errors_logged: AtomicU64,
    /// What librdkafka said about the connections to the brokers (logged as it comes).
    broker_errors: BrokerErrors,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.broker_errors.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.broker_errors.error(error, reason);
    }
}

/// The delivery opaque of a message: which kind of message a delivery report is about.
const EVENT: usize = 0;
const BAD: usize = 1;

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, kind: usize) {
        let (msg, err) = match result {
            Ok(m) => (m, None),
            Err((e, m)) => (m, Some(e)),
        };
        let Some(i) = self.topics.iter().position(|t| t == msg.topic()) else {
            return;
        };
        let c = &self.counters[i];
        let payload = msg.payload().unwrap_or_default();
        match err {
            None => {
                c.acked_bytes.fetch_add(payload.len() as u64, Relaxed);
                if kind == BAD {
                    c.bad_acked.fetch_add(1, Relaxed);
                } else {
                    c.acked.fetch_add(1, Relaxed);
                    self.probe.offer(i, payload);
                }
            }
            Some(e) => {
                c.failed.fetch_add(1, Relaxed);
                // A bad message added nothing to the sums, so takes nothing from them.
                if kind == EVENT {
                    let (q, cents) = sums_of(payload);
                    c.failed_quantity.fetch_add(q, Relaxed);
                    c.failed_total_cents.fetch_add(cents, Relaxed);
                }
                let n = self.errors_logged.fetch_add(1, Relaxed);
                if n < 10 || n.is_multiple_of(1000) {
                    // A message that timed out says nothing of why: the brokers may have,
                    // while it was on its way.
                    let broker = self
                        .broker_errors
                        .most_telling_within(Some(BROKER_ERRORS_WITHIN))
                        .map(|(_, r)| r);
                    tracing::error!(topic = msg.topic(), error = %e, failures = n + 1,
                        broker = broker.as_deref(),
                        "delivery failed after librdkafka's retries; the event is counted as failed");
                }
            }
        }
    }
}

/// quantity and total (in cents) of an event's JSON, for the ledger of a failed delivery.
fn sums_of(payload: &[u8]) -> (i64, i64) {
    #[derive(serde::Deserialize)]
    struct Sums {
        #[serde(default)]
        quantity: i64,
        #[serde(default)]
        total: f64,
    }
    serde_json::from_slice::<Sums>(payload)
        .map(|s| (s.quantity, (s.total * 100.0).round() as i64))
        .unwrap_or((0, 0))
}

/// Publishes to a fixed set of topics (index 0, 1, …) and keeps their counters.
pub struct Publisher {
    producer: ThreadedProducer<DeliveryContext>,
    topics: Vec<String>,
    counters: Vec<Arc<TopicCounters>>,
    probe: Arc<LatencyProbe>,
}

/// How long librdkafka tries to deliver a message before it counts as failed: without
/// end (0). While the broker is away its messages wait in librdkafka's queue (up to
/// `queue.buffering.max.messages` / `.kbytes` below: 500,000 messages, about 8 minutes at
/// 1,000 events/s) and go out when it is back; a full queue holds the generator back
/// (backpressure) until it drains, or until a stop. A message is dropped only when the run
/// stops with it still queued (the closing flush waits 60 s), and is then counted as
/// failed. With the former 120 s (Kafka's default; librdkafka's is 300 s) a broker down
/// for 2 minutes cost the first of the messages queued meanwhile ("Local: Message timed
/// out"), counted as failed while the generator went on.
const DELIVERY_TIMEOUT_MS: &str = "0";

/// How far back the broker's errors are looked at to say why a delivery failed.
const BROKER_ERRORS_WITHIN: Duration = Duration::from_secs(120);

/// The producer settings the publisher runs with (also what `pipeline bench` gives raw
/// librdkafka, to compare like with like).
pub fn producer_config(settings: &KafkaSettings) -> rdkafka::ClientConfig {
    let mut config = settings.client_config();
    // Durable and ordered: acks from all replicas, no duplicates from retries.
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("delivery.timeout.ms", DELIVERY_TIMEOUT_MS);
    for (k, v) in &settings.options {
        config.set(k, v); // the user's own settings win
    }
    config
}

impl Publisher {
    pub fn new(settings: &KafkaSettings, topics: &[&str]) -> Result<Self> {
        let counters: Vec<_> = topics
            .iter()
            .map(|_| Arc::new(TopicCounters::default()))
            .collect();
        let probe = Arc::new(LatencyProbe::default());
        let config = producer_config(settings);
        let context = DeliveryContext {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            counters: counters.clone(),
            probe: probe.clone(),
            errors_logged: AtomicU64::new(0),
            broker_errors: BrokerErrors::new(),
        };
        let producer: ThreadedProducer<DeliveryContext> = config.create_with_context(context)?;
        Ok(Publisher {
            producer,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            counters,
            probe,
        })
    }

    pub fn counters(&self, topic: usize) -> Arc<TopicCounters> {
        self.counters[topic].clone()
    }
    pub fn probe(&self) -> Arc<LatencyProbe> {
        self.probe.clone()
    }
    pub fn topic_names(&self) -> &[String] {
        &self.topics
    }

    /// Queues one event; waits while librdkafka's queue is full. A message the client
    /// refuses outright (too large, unknown topic) is counted as failed and reported.
    pub fn send(
        &self,
        topic: usize,
        key: &[u8],
        payload: &[u8],
        quantity: i64,
        total_cents: i64,
    ) -> Result<()> {
        self.enqueue(topic, key, payload, EVENT, quantity, total_cents, None)
    }

    /// Queues one deliberately bad message, counted apart from the events (`bad_acked`).
    pub fn send_bad(&self, topic: usize, key: &[u8], payload: &[u8]) -> Result<()> {
        self.enqueue(topic, key, payload, BAD, 0, 0, None)
    }

    /// As [`Publisher::send`], but a full queue (the broker away for minutes) is waited on
    /// only until `stop` is cancelled; the message then counts as failed. A stop must not
    /// hang.
    pub fn send_unless(
        &self,
        stop: &CancellationToken,
        topic: usize,
        key: &[u8],
        payload: &[u8],
        quantity: i64,
        total_cents: i64,
    ) -> Result<()> {
        self.enqueue(
            topic,
            key,
            payload,
            EVENT,
            quantity,
            total_cents,
            Some(stop),
        )
    }

    /// As [`Publisher::send_bad`], with [`Publisher::send_unless`]'s stop.
    pub fn send_bad_unless(
        &self,
        stop: &CancellationToken,
        topic: usize,
        key: &[u8],
        payload: &[u8],
    ) -> Result<()> {
        self.enqueue(topic, key, payload, BAD, 0, 0, Some(stop))
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        topic: usize,
        key: &[u8],
        payload: &[u8],
        kind: usize,
        quantity: i64,
        total_cents: i64,
        stop: Option<&CancellationToken>,
    ) -> Result<()> {
        let c = &self.counters[topic];
        c.sent.fetch_add(1, Relaxed);
        c.sent_quantity.fetch_add(quantity, Relaxed);
        c.sent_total_cents.fetch_add(total_cents, Relaxed);
        let mut record = BaseRecord::with_opaque_to(&self.topics[topic], kind)
            .key(key)
            .payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if !stop.is_some_and(|s| s.is_cancelled()) =>
                {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => {
                    c.failed.fetch_add(1, Relaxed);
                    c.failed_quantity.fetch_add(quantity, Relaxed);
                    c.failed_total_cents.fetch_add(total_cents, Relaxed);
                    return Err(Error::Kafka(e));
                }
            }
        }
    }

    /// Waits until every queued message is acknowledged or failed.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer.flush(timeout).map_err(Error::Kafka)
    }

    pub fn in_flight(&self) -> usize {
        self.producer.in_flight_count().max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_messages_are_counted_apart_from_events() {
        let c = TopicCounters::default();
        c.sent.store(10, Relaxed);
        c.acked.store(6, Relaxed);
        c.bad_acked.store(2, Relaxed);
        c.failed.store(1, Relaxed);
        let l = c.ledger();
        assert_eq!((l.events, l.bad, l.failed, l.in_flight), (6, 2, 1, 1));
    }
}
