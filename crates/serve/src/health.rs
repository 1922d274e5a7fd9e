//! The pipeline's own health, measured once a second in the background: rows landed per
//! table, what the broker holds per topic, the ClickHouse consumer group's lag, and the
//! produce → queryable latency of probe events from the local generator.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use kafka_admin::KafkaSettings;
use publish::LatencyProbe;
use query::Queries;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{FollowedTopic, LocalGenerator};

#[derive(Debug, Clone, Serialize, Default)]
pub struct ServiceHealth {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub error: Option<String>,
    /// While it is down: since when (Unix seconds), as first seen by this process.
    pub down_since: Option<u64>,
}

impl ServiceHealth {
    /// Carries `down_since` over from the measurements before: set at the first failure,
    /// kept while the failures last, cleared by a success.
    fn track(mut self, down_since: &mut Option<u64>) -> Self {
        if self.ok {
            *down_since = None;
        } else if down_since.is_none() {
            *down_since = Some(crate::answers::unix_ms() / 1000);
        }
        self.down_since = *down_since;
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicHealth {
    pub topic: String,
    pub table: String,
    pub produced_per_s: Option<f64>,
    pub landed_per_s: Option<f64>,
    pub rows: Option<u64>,
    pub broker_end_offset: Option<i64>,
    pub lag: Option<i64>,
    /// Seconds the table has gained no row while messages wait on the topic (from
    /// [`STALL_AFTER`] on): a Kafka table stopped by a malformed message, a consumer group
    /// stuck after a crash, or 18.16 holding back a block that is not full.
    pub stalled_for_s: Option<u64>,
    /// Counted once the dead-letter table exists; `null` until then.
    pub dead_letters: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub samples: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratorHealth {
    pub running: bool,
    pub events: u64,
    pub failures: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct HealthSnapshot {
    pub clickhouse: ServiceHealth,
    pub broker: ServiceHealth,
    pub topics: Vec<TopicHealth>,
    pub latency_ms: Latency,
    pub generator: Option<GeneratorHealth>,
    /// The guards `pipeline up` runs beside the Kafka engine (duplicate and rollup checks;
    /// on 18.16 the verifier and the rescue): passes, errors, the last error, and since
    /// when the guard fails (`failing_since`, null when its last pass worked). Empty when
    /// none runs in this process (`pipeline serve`).
    pub guards: Vec<reconcile::GuardReport>,
}

#[derive(Clone)]
pub struct HealthMonitor {
    latest: Arc<RwLock<HealthSnapshot>>,
    guards: Option<Arc<reconcile::GuardStats>>,
}

/// The monitor's next beat: `false` at once when `stop` is cancelled.
async fn next_tick(stop: &CancellationToken, tick: &mut tokio::time::Interval) -> bool {
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        _ = tick.tick() => true,
    }
}

impl HealthMonitor {
    /// Measures once (so nothing is ever reported before it is known), then keeps measuring
    /// every second in the background until `stop` is cancelled.
    pub async fn start(
        queries: Queries,
        kafka: KafkaSettings,
        topics: Vec<FollowedTopic>,
        generator: Option<LocalGenerator>,
        guards: Option<Arc<reconcile::GuardStats>>,
        stop: CancellationToken,
    ) -> Self {
        let latencies = Arc::new(Mutex::new(VecDeque::new()));
        let probe = generator.as_ref().map(|g| g.probe.clone());
        let tables: Vec<String> = topics.iter().map(|t| t.table.clone()).collect();
        let mut state = MonitorState {
            queries: queries.clone(),
            kafka,
            topics,
            generator,
            history: VecDeque::new(),
            latencies: latencies.clone(),
            version: None,
            progress: HashMap::new(),
            clickhouse_down_since: None,
            broker_down_since: None,
        };
        let latest = Arc::new(RwLock::new(state.measure().await));
        let monitor = HealthMonitor {
            latest: latest.clone(),
            guards,
        };
        if let Some(probe) = probe {
            let mut probes = ProbeTracker {
                queries,
                tables,
                pending: Vec::new(),
                latencies,
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(ProbeTracker::EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while next_tick(&stop, &mut tick).await {
                    probes.look(&probe).await;
                }
            });
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while next_tick(&stop, &mut tick).await {
                let snapshot = state.measure().await;
                *latest.write().expect("health lock") = snapshot;
            }
        });
        monitor
    }

    /// The last measurement, with the guards as they are now.
    pub fn latest(&self) -> HealthSnapshot {
        let mut h = self.latest.read().expect("health lock").clone();
        if let Some(g) = &self.guards {
            h.guards = g.report();
        }
        h
    }
}

/// One measurement kept for rates: rows per table and end offsets per topic.
struct Sample {
    at: Instant,
    rows: HashMap<String, u64>,
    ends: HashMap<String, i64>,
}

struct MonitorState {
    queries: Queries,
    kafka: KafkaSettings,
    topics: Vec<FollowedTopic>,
    generator: Option<LocalGenerator>,
    history: VecDeque<Sample>,
    latencies: Arc<Mutex<VecDeque<u64>>>,
    version: Option<String>,
    progress: HashMap<String, Option<Progress>>,
    clickhouse_down_since: Option<u64>,
    broker_down_since: Option<u64>,
}

/// Rates are averaged over this window.
const RATE_WINDOW: Duration = Duration::from_secs(10);
const KEEP_LATENCIES: usize = 600;
/// How long a table may gain nothing while messages wait before it counts as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// When a table last gained rows.
#[derive(Debug, Clone, Copy)]
struct Progress {
    rows: u64,
    since: Instant,
}

impl Progress {
    /// Records `rows` at `now`; returns how long the table has been stalled, if it has.
    fn observe(
        last: &mut Option<Progress>,
        rows: u64,
        lag: Option<i64>,
        now: Instant,
    ) -> Option<u64> {
        match last {
            Some(p) if p.rows == rows => {}
            _ => *last = Some(Progress { rows, since: now }),
        }
        let idle = now.duration_since(last.expect("set above").since);
        (lag.unwrap_or(0) > 0 && idle >= STALL_AFTER).then_some(idle.as_secs())
    }
}

impl MonitorState {
    async fn measure(&mut self) -> HealthSnapshot {
        let now = Instant::now();
        let mut snapshot = HealthSnapshot::default();

        let rows = match self.queries.table_rows().await {
            Ok(rows) => {
                if self.version.is_none() {
                    self.version = self
                        .queries
                        .client()
                        .version()
                        .await
                        .ok()
                        .map(|v| v.to_string());
                }
                snapshot.clickhouse = ServiceHealth {
                    ok: true,
                    version: self.version.clone(),
                    ..Default::default()
                }
                .track(&mut self.clickhouse_down_since);
                Some(rows)
            }
            Err(e) => {
                // Down means not answering; a server that answers with an error (a table
                // dropped by hand, say) is up, and `error` says what failed.
                let answering = !e.is_unreachable() && self.queries.client().ping().await.is_ok();
                if !answering {
                    self.version = None;
                }
                snapshot.clickhouse = ServiceHealth {
                    ok: answering,
                    version: self.version.clone().filter(|_| answering),
                    error: Some(e.to_string()),
                    ..Default::default()
                }
                .track(&mut self.clickhouse_down_since);
                None
            }
        };

        let dead_letters = match rows {
            Some(_) => self.queries.dead_letters().await.ok(),
            None => None,
        };
        let broker = self.broker_figures().await;
        snapshot.broker = ServiceHealth {
            ok: broker.is_ok(),
            error: broker.as_ref().err().cloned(),
            ..Default::default()
        }
        .track(&mut self.broker_down_since);

        let current = Sample {
            at: now,
            rows: rows
                .clone()
                .map(|r| r.into_iter().collect())
                .unwrap_or_default(),
            ends: broker
                .as_ref()
                .map(|b| b.iter().map(|(t, (end, _))| (t.clone(), *end)).collect())
                .unwrap_or_default(),
        };
        while self
            .history
            .front()
            .is_some_and(|s| now.duration_since(s.at) > RATE_WINDOW)
        {
            self.history.pop_front();
        }
        let oldest = self.history.front();
        let rate =
            |new: Option<f64>, old: Option<f64>, since: Option<Instant>| match (new, old, since) {
                (Some(n), Some(o), Some(t))
                    if now.duration_since(t) > Duration::from_millis(500) =>
                {
                    Some(
                        ((n - o).max(0.0) / now.duration_since(t).as_secs_f64() * 100.0).round()
                            / 100.0,
                    )
                }
                _ => None,
            };
        for t in &self.topics {
            let row_now = current.rows.get(&t.table).copied();
            let end_now = current.ends.get(&t.topic).copied();
            let lag = broker
                .as_ref()
                .ok()
                .and_then(|b| b.get(&t.topic))
                .and_then(|(_, lag)| *lag);
            let dead = dead_letters
                .as_ref()
                .map(|d| d.get(&t.topic).copied().unwrap_or(0));
            // A refused message is progress too: the table moved past it.
            let stalled_for_s = row_now.and_then(|rows| {
                Progress::observe(
                    self.progress.entry(t.table.clone()).or_default(),
                    rows + dead.unwrap_or(0),
                    lag,
                    now,
                )
            });
            snapshot.topics.push(TopicHealth {
                topic: t.topic.clone(),
                table: t.table.clone(),
                produced_per_s: rate(
                    end_now.map(|v| v as f64),
                    oldest.and_then(|o| o.ends.get(&t.topic)).map(|v| *v as f64),
                    oldest.map(|o| o.at),
                ),
                landed_per_s: rate(
                    row_now.map(|v| v as f64),
                    oldest.and_then(|o| o.rows.get(&t.table)).map(|v| *v as f64),
                    oldest.map(|o| o.at),
                ),
                rows: row_now,
                broker_end_offset: end_now,
                lag,
                stalled_for_s,
                dead_letters: dead,
            });
        }
        self.history.push_back(current);

        if let Some(g) = self.generator.clone() {
            let ledgers: Vec<_> = g.counters.iter().map(|c| c.ledger()).collect();
            snapshot.generator = Some(GeneratorHealth {
                running: g.running.load(Relaxed),
                events: ledgers.iter().map(|l| l.events).sum(),
                failures: ledgers.iter().map(|l| l.failed).sum(),
            });
        }
        snapshot.latency_ms = self.latency();
        snapshot
    }

    /// Per topic: the sum of partition end offsets, and the consumer group's lag.
    async fn broker_figures(&self) -> Result<HashMap<String, (i64, Option<i64>)>, String> {
        let kafka = self.kafka.clone();
        let topics = self.topics.clone();
        let work = tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(2);
            let mut out = HashMap::new();
            for t in &topics {
                let parts = kafka_admin::partition_offsets(&kafka, &t.topic, timeout)
                    .map_err(|e| e.to_string())?;
                let end: i64 = parts.iter().map(|p| p.high).sum();
                // The end offsets are shown even when the group's offsets cannot be read.
                let lag =
                    kafka_admin::group_partitions_on(&kafka, &t.group, &t.topic, &parts, timeout)
                        .ok()
                        .map(|group| group.iter().map(|p| p.lag()).sum::<i64>());
                out.insert(t.topic.clone(), (end, lag));
            }
            Ok(out)
        });
        match tokio::time::timeout(Duration::from_secs(5), work).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the broker did not answer within 5 s".into()),
        }
    }

    fn latency(&self) -> Latency {
        let mut v: Vec<u64> = self
            .latencies
            .lock()
            .expect("latency lock")
            .iter()
            .copied()
            .collect();
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
        Latency {
            p50: Some(at(0.5)),
            p95: Some(at(0.95)),
            samples: v.len(),
        }
    }
}

/// Looks for the generator's probe events in ClickHouse several times a second; each one
/// found gives a latency from its acknowledgement by the broker to its first sighting.
struct ProbeTracker {
    queries: Queries,
    /// Target table per topic index of the publisher.
    tables: Vec<String>,
    pending: Vec<(usize, String, SystemTime)>,
    latencies: Arc<Mutex<VecDeque<u64>>>,
}

impl ProbeTracker {
    const EVERY: Duration = Duration::from_millis(250);

    async fn look(&mut self, probe: &LatencyProbe) {
        self.pending.extend(probe.take());
        let now = SystemTime::now();
        // A probe not seen within two minutes leaves the latency figures; counting missing
        // events is the audit's job, not this panel's.
        self.pending.retain(|(_, _, at)| {
            now.duration_since(*at).unwrap_or_default() < Duration::from_secs(120)
        });
        for (i, table) in self.tables.iter().enumerate() {
            let ids: Vec<String> = self
                .pending
                .iter()
                .filter(|(t, _, _)| *t == i)
                .map(|(_, id, _)| id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let Ok(found) = self.queries.landed_event_ids(table, &ids).await else {
                continue;
            };
            let seen_at = SystemTime::now();
            let mut latencies = self.latencies.lock().expect("latency lock");
            self.pending.retain(|(t, id, at)| {
                if *t == i && found.contains(id) {
                    latencies.push_back(
                        seen_at.duration_since(*at).unwrap_or_default().as_millis() as u64,
                    );
                    false
                } else {
                    true
                }
            });
            while latencies.len() > KEEP_LATENCIES {
                latencies.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_that_gains_nothing_while_messages_wait_is_stalled() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut p = None;
        assert_eq!(Progress::observe(&mut p, 10, Some(5), at(0)), None);
        assert_eq!(
            Progress::observe(&mut p, 10, Some(5), at(9)),
            None,
            "not yet"
        );
        assert_eq!(Progress::observe(&mut p, 10, Some(5), at(12)), Some(12));
        assert_eq!(
            Progress::observe(&mut p, 10, Some(0), at(13)),
            None,
            "nothing waits: idle, not stalled"
        );
        assert_eq!(
            Progress::observe(&mut p, 11, Some(5), at(14)),
            None,
            "rows arrived"
        );
        assert_eq!(
            Progress::observe(&mut p, 11, None, at(40)),
            None,
            "lag unknown"
        );
        assert_eq!(Progress::observe(&mut p, 11, Some(1), at(40)), Some(26));
    }
}
