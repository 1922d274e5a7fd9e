//! Every question the page and the API ask ClickHouse, answered at most once per second
//! whatever the audience: one cached answer per distinct question, computed single-flight
//! (requests that arrive while it is being computed wait for that computation; none starts
//! another), and only when somebody asks. So the ClickHouse work of `serve` depends on the
//! questions asked, not on how many pages are open or how often a script polls.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use query::{Queries, Range};
use serde::Serialize;

/// How long an answer is reused. The page's stream pushes once a second, so an answer
/// is never older than about a second when it is shown.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// A question of the page or the API, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Question {
    Status,
    Overview(Range),
    SalesHourly,
    StockTop,
    RecentSales,
    StockLevels {
        by_product: bool,
    },
    /// The dead-letter panel: the latest 50.
    LatestDeadLetters,
}

/// An answer as JSON text, or the error that stopped it; and when it was computed.
#[derive(Clone)]
pub struct Answer {
    pub body: Result<Arc<str>, Arc<clickhouse_http::Error>>,
    /// When its computation started (Unix ms): the data is at least this recent.
    pub computed_at_ms: u64,
    /// When its computation started, on the monotonic clock.
    pub started: Instant,
}

impl Answer {
    /// How old the answer is now.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
}

/// One cached value per key, recomputed when older than [`MAX_AGE`], single-flight.
pub struct SingleFlight<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
}

/// The async lock is held for the whole computation: that is what makes later arrivals
/// wait for it instead of starting their own.
type Slot<V> = Arc<tokio::sync::Mutex<Option<(Instant, V)>>>;

impl<K: Eq + Hash + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            slots: Mutex::default(),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// The value for `key`, computed by `compute` unless one started less than [`MAX_AGE`]
    /// ago and, if `newer_than` is given, after it (the stream's beat asks for something
    /// newer than what it sent last). When the cached one is fresh but not newer, this waits
    /// until it is `MAX_AGE` old and then computes: still at most one computation per
    /// `MAX_AGE`. `compute` is handed the value it replaces. A caller that goes away
    /// mid-computation (a closed connection) releases the slot; the next caller computes.
    /// Returns when the value started, and the value.
    pub async fn get_newer<F, Fut>(
        &self,
        key: K,
        newer_than: Option<Instant>,
        compute: F,
    ) -> (Instant, V)
    where
        F: FnOnce(Instant, Option<V>) -> Fut,
        Fut: Future<Output = V>,
    {
        let slot = self
            .slots
            .lock()
            .expect("single-flight map lock")
            .entry(key)
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        while let Some((started, value)) = cached.as_ref() {
            let age = started.elapsed();
            if age >= MAX_AGE {
                break;
            }
            if newer_than.is_none_or(|t| *started > t) {
                return (*started, value.clone());
            }
            // Fresh but already seen: wait for it to expire, letting others read it meanwhile.
            drop(cached);
            tokio::time::sleep(MAX_AGE - age).await;
            cached = slot.lock().await;
        }
        let previous = cached.take().map(|(_, v)| v);
        let started = Instant::now();
        let value = compute(started, previous.clone()).await;
        *cached = Some((started, value.clone()));
        (started, value)
    }
}

/// The answers of every [`Question`], shared by all requests and streams.
pub struct Answers {
    queries: Queries,
    cache: SingleFlight<Question, Answer>,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn json_text<T: Serialize>(r: clickhouse_http::Result<T>) -> clickhouse_http::Result<Arc<str>> {
    r.and_then(|v| {
        serde_json::to_string(&v)
            .map(Arc::from)
            .map_err(|e| clickhouse_http::Error::Decode(e.to_string()))
    })
}

impl Answers {
    pub fn new(queries: Queries) -> Self {
        Answers {
            queries,
            cache: SingleFlight::default(),
        }
    }

    pub fn queries(&self) -> &Queries {
        &self.queries
    }

    pub async fn get(&self, question: Question) -> Answer {
        self.get_newer(question, None).await
    }

    /// The answer, computed after `newer_than` (see [`SingleFlight::get_newer`]).
    pub async fn get_newer(&self, question: Question, newer_than: Option<Instant>) -> Answer {
        self.cache
            .get_newer(question, newer_than, |started, _| async move {
                let computed_at_ms = unix_ms();
                let now = (computed_at_ms / 1000) as u32;
                let q = &self.queries;
                let body = match question {
                    Question::Status => json_text(q.status().await),
                    Question::Overview(range) => json_text(q.overview(range, now).await),
                    Question::SalesHourly => json_text(q.sales_hourly().await),
                    Question::StockTop => json_text(q.stock_top(now).await),
                    Question::RecentSales => json_text(q.recent_sales().await),
                    Question::StockLevels { by_product } => {
                        json_text(q.stock_levels(by_product).await)
                    }
                    Question::LatestDeadLetters => json_text(q.latest_dead_letters().await),
                };
                Answer {
                    body: body.map_err(Arc::new),
                    computed_at_ms,
                    started,
                }
            })
            .await
            .1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

    #[tokio::test]
    async fn concurrent_callers_share_one_computation_and_it_expires_after_max_age() {
        let flight: Arc<SingleFlight<u8, u32>> = Arc::default();
        let runs = Arc::new(AtomicU32::new(0));
        let ask = |flight: Arc<SingleFlight<u8, u32>>, runs: Arc<AtomicU32>| async move {
            flight
                .get_newer(1, None, |_, _| async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    runs.fetch_add(1, SeqCst) + 1
                })
                .await
                .1
        };
        let answers = futures::future::join_all(
            (0..100).map(|_| tokio::spawn(ask(flight.clone(), runs.clone()))),
        )
        .await;
        assert_eq!(
            runs.load(SeqCst),
            1,
            "100 concurrent callers, one computation"
        );
        assert!(answers.iter().all(|a| *a.as_ref().unwrap() == 1));
        // Another key is its own question.
        flight.get_newer(2, None, |_, _| async { 7 }).await;
        assert_eq!(ask(flight.clone(), runs.clone()).await, 1, "still fresh");
        tokio::time::sleep(MAX_AGE).await;
        assert_eq!(
            ask(flight.clone(), runs.clone()).await,
            2,
            "recomputed once stale"
        );
        assert_eq!(runs.load(SeqCst), 2);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_mid_computation_leaves_the_slot_to_the_next() {
        let flight: Arc<SingleFlight<u8, u32>> = Arc::default();
        let f = flight.clone();
        let abandoned = tokio::spawn(async move {
            f.get_newer(1, None, |_, _| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                1
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        abandoned.abort();
        let (_, v) = tokio::time::timeout(
            Duration::from_secs(5),
            flight.get_newer(1, None, |_, _| async { 2 }),
        )
        .await
        .expect("the slot is free again");
        assert_eq!(v, 2);
    }

    #[tokio::test]
    async fn newer_than_waits_for_a_new_value_and_still_computes_once_per_max_age() {
        let flight: Arc<SingleFlight<u8, u32>> = Arc::default();
        let runs = Arc::new(AtomicU32::new(0));
        let ask = |newer_than| {
            let (flight, runs) = (flight.clone(), runs.clone());
            async move {
                flight
                    .get_newer(1, newer_than, |_, previous| async move {
                        let n = runs.fetch_add(1, SeqCst) + 1;
                        assert_eq!(previous, (n > 1).then_some(n - 1), "handed the old value");
                        n
                    })
                    .await
            }
        };
        let start = Instant::now();
        let (first, v1) = ask(None).await;
        assert_eq!(v1, 1);
        // Fresh: a caller with no demand, or one that saw an older value, gets it at once.
        assert_eq!(ask(None).await.1, 1);
        assert_eq!(ask(Some(start - Duration::from_millis(1))).await.1, 1);
        // Ten callers that already saw it all wait for the next one, computed once.
        let next = futures::future::join_all((0..10).map(|_| tokio::spawn(ask(Some(first))))).await;
        for n in next {
            let (started, v) = n.unwrap();
            assert_eq!(v, 2);
            assert!(started > first);
            assert!(
                started.duration_since(first) >= MAX_AGE,
                "not before MAX_AGE"
            );
        }
        assert_eq!(runs.load(SeqCst), 2);
    }
}
