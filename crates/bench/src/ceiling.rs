//! Generator ceiling: events/s fully acknowledged by the broker for
//! (a) the project's path, `generate::Generator` → `publish::run` → `publish::Publisher`, and
//! (b) raw librdkafka (a `ThreadedProducer`, the same threading as the publisher) sending
//!     the same events, serialized beforehand, with the same producer settings.
//! Runs alternate a, b, a, b…; medians are quoted. Each measured section runs from the
//! first message to the end of the flush (every message acknowledged). Outside it: creating
//! the producer, one warm-up message sent and acknowledged through it (connection,
//! metadata and the idempotent producer id: ~0.5 s here, which would swamp small runs),
//! and generating (b)'s messages.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{bail, Context};
use generate::{Event, EventTime, Generator, GeneratorConfig, Message};
use kafka_admin::{KafkaSettings, TopicSpec};
use publish::{Publisher, RunLimits};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use serde::Serialize;

use crate::measure::{Cost, Meter};
use crate::{fmt_num, median, PhaseReport, Table};
use tokio_util::sync::CancellationToken;

pub struct CeilingOptions {
    /// Bootstrap servers of the ceiling broker.
    pub brokers: String,
    /// What the broker is, for the report.
    pub broker_label: String,
    /// Its pid when this process started it: its CPU per event is then reported.
    pub broker_pid: Option<u32>,
    pub events: u64,
    pub runs: u32,
    pub seed: u64,
    pub partitions: i32,
    /// Topic names: `<prefix>_sales`, `<prefix>_warehouse`.
    pub topic_prefix: String,
}

/// One measured run of one side.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub run: u32,
    pub events: u64,
    pub seconds: f64,
    pub events_per_s: f64,
    pub cpu_seconds: f64,
    pub cpu_us_per_event: f64,
    /// Rust heap allocations per event; null when not measured.
    pub allocs_per_event: Option<f64>,
    /// CPU of the broker per event; null when the bench did not start the broker.
    pub broker_cpu_us_per_event: Option<f64>,
}

impl Sample {
    fn new(run: u32, events: u64, cost: Cost) -> Self {
        let per = |x: f64| x / events as f64;
        let seconds = cost.wall.as_secs_f64();
        Sample {
            run,
            events,
            seconds,
            events_per_s: events as f64 / seconds,
            cpu_seconds: cost.cpu.as_secs_f64(),
            cpu_us_per_event: per(cost.cpu.as_secs_f64() * 1e6),
            allocs_per_event: cost.allocations.map(|a| per(a as f64)),
            broker_cpu_us_per_event: cost.other_cpu.map(|c| per(c.as_secs_f64() * 1e6)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Medians {
    pub events_per_s: f64,
    pub cpu_us_per_event: f64,
    pub allocs_per_event: Option<f64>,
    pub broker_cpu_us_per_event: Option<f64>,
}

fn medians(samples: &[Sample]) -> Medians {
    let opt = |f: fn(&Sample) -> Option<f64>| {
        if samples.iter().all(|s| f(s).is_some()) {
            median(samples.iter().filter_map(f))
        } else {
            None
        }
    };
    Medians {
        events_per_s: median(samples.iter().map(|s| s.events_per_s)).unwrap_or(0.0),
        cpu_us_per_event: median(samples.iter().map(|s| s.cpu_us_per_event)).unwrap_or(0.0),
        allocs_per_event: opt(|s| s.allocs_per_event),
        broker_cpu_us_per_event: opt(|s| s.broker_cpu_us_per_event),
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Generator,
    Raw,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Generator => "(a) generator + publisher",
            Side::Raw => "(b) raw librdkafka",
        }
    }
}

pub async fn run(opts: &CeilingOptions) -> anyhow::Result<PhaseReport> {
    if opts.events == 0 || opts.runs == 0 {
        bail!("the ceiling needs at least one event and one run");
    }
    let settings = KafkaSettings::new(&opts.brokers);
    let topics = [
        format!("{}_sales", opts.topic_prefix),
        format!("{}_warehouse", opts.topic_prefix),
    ];
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|t| TopicSpec {
            name: t.clone(),
            partitions: opts.partitions,
        })
        .collect();
    kafka_admin::ensure_topics(&settings, &specs, Duration::from_secs(10))
        .await
        .with_context(|| format!("creating the ceiling topics on {}", opts.brokers))?;

    let prepared = {
        let (seed, events) = (opts.seed, opts.events);
        tokio::task::spawn_blocking(move || Prepared::generate(seed, events)).await??
    };
    let prepared = std::sync::Arc::new(prepared);
    let mut generator_runs = Vec::new();
    let mut raw_runs = Vec::new();
    for run in 1..=opts.runs {
        // a, b in odd runs and b, a in even ones: neither side always goes first.
        let order = if run % 2 == 1 {
            [Side::Generator, Side::Raw]
        } else {
            [Side::Raw, Side::Generator]
        };
        for side in order {
            let (s, t, pid, p) = (
                settings.clone(),
                topics.clone(),
                opts.broker_pid,
                prepared.clone(),
            );
            let (seed, n) = (opts.seed, opts.events);
            let cost = tokio::task::spawn_blocking(move || match side {
                Side::Generator => run_generator(&s, &t, pid, seed, n, &p),
                Side::Raw => run_raw(&s, &t, pid, &p),
            })
            .await?
            .with_context(|| format!("ceiling run {run}, {}", side.name()))?;
            let sample = Sample::new(run, opts.events, cost);
            tracing::info!(
                run,
                side = side.name(),
                events_per_s = sample.events_per_s,
                "ceiling run"
            );
            match side {
                Side::Generator => generator_runs.push(sample),
                Side::Raw => raw_runs.push(sample),
            }
        }
    }
    let (a, b) = (medians(&generator_runs), medians(&raw_runs));
    let ratio = a.events_per_s / b.events_per_s;

    let mut table = Table::new(&[
        "side",
        "events/s (median)",
        "each run",
        "CPU µs/event",
        "allocs/event",
        "broker CPU µs/event",
    ]);
    for (side, m, runs) in [
        (Side::Generator, &a, &generator_runs),
        (Side::Raw, &b, &raw_runs),
    ] {
        let each: Vec<String> = runs
            .iter()
            .map(|s| fmt_num(Some(s.events_per_s), 0))
            .collect();
        table.row(vec![
            side.name().into(),
            fmt_num(Some(m.events_per_s), 0),
            each.join(" "),
            fmt_num(Some(m.cpu_us_per_event), 2),
            fmt_num(m.allocs_per_event, 2),
            fmt_num(m.broker_cpu_us_per_event, 2),
        ]);
    }
    table.row(vec![
        "ratio a/b".into(),
        format!("{ratio:.3}"),
        String::new(),
        format!("{:.3}", a.cpu_us_per_event / b.cpu_us_per_event),
        String::new(),
        String::new(),
    ]);
    let mut notes = vec![
        format!(
            "broker {} · {} events per run · {} run(s) per side, alternating (a b, b a, …) · {} partitions · seed {}",
            opts.broker_label, opts.events, opts.runs, opts.partitions, opts.seed
        ),
        "producer settings of publish::Publisher: enable.idempotence=true, acks=all, linger.ms=5, \
         batch.num.messages=10000; timed from the first message to the end of the flush, \
         after one warm-up message per producer"
            .into(),
        "CPU = getrusage(RUSAGE_SELF) user+sys of this process (librdkafka's threads included); \
         (b) excludes generating and serializing its messages, (a) includes them"
            .into(),
    ];
    if a.allocs_per_event.is_some() {
        notes.push(
            "allocs = Rust heap allocations (alloc/realloc); librdkafka's own mallocs are not seen"
                .into(),
        );
    } else {
        notes.push("allocs not measured: build with `--features count-allocations`".into());
    }
    if opts.broker_pid.is_none() {
        notes.push("broker CPU not measured: the broker was not started by the bench".into());
    }
    let json = serde_json::json!({
        "broker": opts.broker_label,
        "brokers": opts.brokers,
        "events_per_run": opts.events,
        "runs": opts.runs,
        "partitions": opts.partitions,
        "seed": opts.seed,
        "topics": topics,
        "generator": { "median": a, "runs": generator_runs },
        "raw": { "median": b, "runs": raw_runs },
        "ratio_events_per_s": ratio,
        "ratio_cpu_per_event": a.cpu_us_per_event / b.cpu_us_per_event,
    });
    Ok(PhaseReport {
        name: "ceiling",
        title: "generator ceiling: events/s fully acknowledged by the broker".into(),
        table,
        notes,
        json,
    })
}

/// (a): the production path, as `pipeline generate --rate 0 --count N --seed S` runs it.
fn run_generator(
    settings: &KafkaSettings,
    topics: &[String; 2],
    broker_pid: Option<u32>,
    seed: u64,
    events: u64,
    warm_up: &Prepared,
) -> anyhow::Result<Cost> {
    let mut generator = Generator::new(&GeneratorConfig {
        seed: Some(seed),
        ..GeneratorConfig::default()
    })
    .map_err(anyhow::Error::msg)?;
    let publisher = Publisher::new(settings, &[&topics[0], &topics[1]])?;
    let (t, key, payload) = warm_up.get(0);
    publisher.send(t, key, payload, 0, 0)?;
    publisher
        .flush(Duration::from_secs(30))
        .context("the warm-up message")?;
    let limits = RunLimits {
        rate: 0.0,
        count: Some(events),
        duration: None,
    };
    let stop = CancellationToken::new();
    let meter = Meter::start(broker_pid);
    let summary = publish::run(&mut generator, &publisher, &limits, &stop, &mut |_| {})?;
    let cost = meter.stop();
    let acked: u64 = summary
        .topics
        .iter()
        .map(|(_, l)| l.events)
        .sum::<u64>()
        .saturating_sub(1);
    if summary.failures() > 0 || acked != events {
        bail!(
            "{acked} of {events} events acknowledged ({} failed or unconfirmed)",
            summary.failures()
        );
    }
    Ok(cost)
}

/// The messages of (a), serialized beforehand: topic, key and payload of each, in order.
pub struct Prepared {
    bytes: Vec<u8>,
    /// (topic index, start in `bytes`, key length, payload length)
    index: Vec<(u8, usize, u32, u32)>,
}

impl Prepared {
    /// The same events as (a) from the same seed, keyed by product id as the publisher does.
    pub fn generate(seed: u64, events: u64) -> anyhow::Result<Self> {
        let mut generator = Generator::new(&GeneratorConfig {
            seed: Some(seed),
            ..GeneratorConfig::default()
        })
        .map_err(anyhow::Error::msg)?;
        let at = EventTime::from_naive(chrono::Local::now().naive_local());
        let mut p = Prepared {
            bytes: Vec::with_capacity(events as usize * 320),
            index: Vec::with_capacity(events as usize),
        };
        let mut payload = Vec::with_capacity(512);
        for _ in 0..events {
            let Message::Event(event) = generator.next_message(at) else {
                bail!("the generator made a bad message with bad_ratio 0");
            };
            payload.clear();
            event.write_json(&mut payload);
            let topic = match event {
                Event::Sale(_) => 0,
                Event::StockMovement(_) => 1,
            };
            let key = event.product_id().to_string();
            let start = p.bytes.len();
            p.bytes.extend_from_slice(key.as_bytes());
            p.bytes.extend_from_slice(&payload);
            p.index
                .push((topic, start, key.len() as u32, payload.len() as u32));
        }
        Ok(p)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn get(&self, i: usize) -> (usize, &[u8], &[u8]) {
        let (t, start, k, p) = self.index[i];
        let key = &self.bytes[start..start + k as usize];
        let payload = &self.bytes[start + k as usize..start + k as usize + p as usize];
        (t as usize, key, payload)
    }
}

/// Counts deliveries, nothing else.
#[derive(Default)]
struct Acks {
    acked: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.acked.fetch_add(1, Relaxed),
            Err(_) => self.failed.fetch_add(1, Relaxed),
        };
    }
}

/// (b): raw librdkafka, the same messages and settings, the same wait on a full queue.
fn run_raw(
    settings: &KafkaSettings,
    topics: &[String; 2],
    broker_pid: Option<u32>,
    prepared: &Prepared,
) -> anyhow::Result<Cost> {
    let producer: ThreadedProducer<Acks> = publish::producer_config(settings)
        .create_with_context(Acks::default())
        .context("creating the raw producer")?;
    let send = |i: usize| -> anyhow::Result<()> {
        let (t, key, payload) = prepared.get(i);
        let mut record = BaseRecord::to(&topics[t]).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e).context("the raw producer refused a message"),
            }
        }
    };
    send(0)?;
    producer
        .flush(Duration::from_secs(30))
        .context("the warm-up message")?;
    let meter = Meter::start(broker_pid);
    for i in 0..prepared.len() {
        send(i)?;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing the raw producer")?;
    let cost = meter.stop();
    let ctx = producer.context();
    // The warm-up message is one of them.
    let (acked, failed) = (
        ctx.acked.load(Relaxed).saturating_sub(1),
        ctx.failed.load(Relaxed),
    );
    if acked != prepared.len() as u64 {
        bail!(
            "{acked} of {} messages acknowledged ({failed} failed)",
            prepared.len()
        );
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_messages_are_the_generators_events() {
        let p = Prepared::generate(7, 50).unwrap();
        assert_eq!(p.len(), 50);
        let mut g = Generator::new(&GeneratorConfig {
            seed: Some(7),
            ..GeneratorConfig::default()
        })
        .unwrap();
        for i in 0..50 {
            let (t, key, payload) = p.get(i);
            let e = g.next_event(EventTime(*b"2000-01-01 00:00:00"));
            assert_eq!(key, e.product_id().to_string().as_bytes());
            assert_eq!(t, matches!(e, Event::StockMovement(_)) as usize);
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            assert_eq!(v["event_id"], e.event_id().to_string());
        }
    }

    #[test]
    fn medians_of_optional_figures_need_every_run() {
        let s = |eps: f64, allocs: Option<f64>| Sample {
            run: 1,
            events: 1,
            seconds: 1.0,
            events_per_s: eps,
            cpu_seconds: 1.0,
            cpu_us_per_event: 1.0,
            allocs_per_event: allocs,
            broker_cpu_us_per_event: None,
        };
        let m = medians(&[s(1.0, Some(2.0)), s(3.0, None), s(2.0, Some(4.0))]);
        assert_eq!(m.events_per_s, 2.0);
        assert_eq!(m.allocs_per_event, None);
    }
}
