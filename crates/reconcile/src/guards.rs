//! What the guards `pipeline up` runs have done, shared with the dashboard server: per guard,
//! passes and failed passes, the last error and since when it fails, and the work done
//! (duplicates recorded, corrections written, hours sealed, messages replayed, rescues).
//!
//! A failing guard is logged at warn when it starts failing, then at most once a minute
//! while it goes on failing (with the error each time), and at info when it works again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The guards by name, as `/metrics` labels them.
pub const DUPLICATES: &str = "duplicates";
pub const ROLLUPS: &str = "rollups";
pub const VERIFY: &str = "verify";
pub const RESCUE: &str = "rescue";

/// The work counters, as `/metrics` names them (`pipeline_guard_<name>_total`).
pub const DUPLICATES_RECORDED: &str = "duplicates_recorded";
pub const CORRECTIONS_WRITTEN: &str = "corrections_written";
pub const HOUR_SEALS: &str = "hour_seals";
pub const MESSAGES_REPLAYED: &str = "messages_replayed";
pub const RESCUES: &str = "rescues";
pub const MESSAGES_RESCUED: &str = "messages_rescued";

/// Every work counter with the guard that does it and what it counts, so that each is
/// reported (at 0) from the start.
pub const WORK: &[(&str, &str, &str)] = &[
    (
        DUPLICATES,
        DUPLICATES_RECORDED,
        "Copies of events delivered twice, recorded in the duplicate ledger.",
    ),
    (
        ROLLUPS,
        CORRECTIONS_WRITTEN,
        "Rollup corrections written for fan-outs cut short.",
    ),
    (
        ROLLUPS,
        HOUR_SEALS,
        "Finished hours sealed into the hour tiers.",
    ),
    (
        VERIFY,
        MESSAGES_REPLAYED,
        "Messages the Kafka engine committed but never wrote, replayed by the verifier.",
    ),
    (
        RESCUE,
        RESCUES,
        "Stalled Kafka tables moved past bytes their reader cannot take.",
    ),
    (
        RESCUE,
        MESSAGES_RESCUED,
        "Messages the rescue moved through the replay door.",
    ),
];

/// Waits `period` before a guard's next pass: `false` at once when `stop` is cancelled. A
/// guard finishes the pass it is in (a pass cut in the middle would leave, say, a
/// correction written and its record not), then stops here.
pub async fn next_pass(stop: &CancellationToken, period: Duration) -> bool {
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(period) => true,
    }
}

/// How often a guard that goes on failing is logged again.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Shared by the guards (writers) and the server (reader).
#[derive(Debug, Default)]
pub struct GuardStats {
    guards: Mutex<BTreeMap<&'static str, Guard>>,
}

#[derive(Debug, Default)]
struct Guard {
    passes: u64,
    errors: u64,
    last_error: Option<String>,
    last_error_at: Option<SystemTime>,
    /// Set at the first failed pass of a run of failures, cleared by a pass that works.
    failing_since: Option<SystemTime>,
    /// When the current run of failures was last logged.
    logged_at: Option<Instant>,
    work: BTreeMap<&'static str, u64>,
}

/// One guard as reported by `/api/health` and `/metrics`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GuardReport {
    pub name: String,
    /// Passes that worked.
    pub passes: u64,
    /// Passes that failed.
    pub errors: u64,
    pub last_error: Option<String>,
    /// Unix seconds of the last failed pass.
    pub last_error_at: Option<u64>,
    /// Unix seconds of the first failure of the current run; `null` when the last pass
    /// worked.
    pub failing_since: Option<u64>,
    /// The work done, by counter name (see [`WORK`]).
    pub work: BTreeMap<String, u64>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl GuardStats {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn with<T>(&self, guard: &'static str, f: impl FnOnce(&mut Guard) -> T) -> T {
        let mut guards = self.guards.lock().expect("guard stats lock");
        let g = guards.entry(guard).or_insert_with(|| Guard {
            // Reported at 0 before the first pass.
            work: WORK
                .iter()
                .filter(|(owner, _, _)| *owner == guard)
                .map(|(_, name, _)| (*name, 0))
                .collect(),
            ..Default::default()
        });
        f(g)
    }

    /// Makes `guard` reported (passes 0) before its first pass.
    pub fn register(&self, guard: &'static str) {
        self.with(guard, |_| ());
    }

    /// A pass that worked; logs at info when it ends a run of failures.
    pub fn passed(&self, guard: &'static str) {
        let recovered = self.with(guard, |g| {
            g.passes += 1;
            g.logged_at = None;
            g.failing_since.take()
        });
        if let Some(since) = recovered {
            tracing::info!(
                guard,
                failed_for_s = SystemTime::now()
                    .duration_since(since)
                    .unwrap_or_default()
                    .as_secs(),
                "guard works again"
            );
        }
    }

    /// A pass that failed; logged at warn at the first failure of a run, then at most once
    /// a minute.
    pub fn failed(&self, guard: &'static str, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        let now = SystemTime::now();
        let log = self.with(guard, |g| {
            g.errors += 1;
            g.last_error = Some(error.clone());
            g.last_error_at = Some(now);
            let first = g.failing_since.is_none();
            let since = *g.failing_since.get_or_insert(now);
            let due = g.logged_at.is_none_or(|t| t.elapsed() >= LOG_EVERY);
            if due {
                g.logged_at = Some(Instant::now());
            }
            due.then_some((first, since, g.errors))
        });
        if let Some((first, since, errors)) = log {
            if first {
                tracing::warn!(guard, error, "guard pass failed; retrying every second");
            } else {
                tracing::warn!(
                    guard,
                    error,
                    failing_for_s = now.duration_since(since).unwrap_or_default().as_secs(),
                    errors,
                    "guard still failing; retrying every second"
                );
            }
        }
    }

    /// Adds `n` to a work counter of `guard`.
    pub fn add(&self, guard: &'static str, counter: &'static str, n: u64) {
        self.with(guard, |g| *g.work.entry(counter).or_default() += n);
    }

    /// Every guard registered or seen, by name.
    pub fn report(&self) -> Vec<GuardReport> {
        let guards = self.guards.lock().expect("guard stats lock");
        guards
            .iter()
            .map(|(name, g)| GuardReport {
                name: name.to_string(),
                passes: g.passes,
                errors: g.errors,
                last_error: g.last_error.clone(),
                last_error_at: g.last_error_at.map(unix),
                failing_since: g.failing_since.map(unix),
                work: g.work.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard between passes stops as soon as its token is cancelled, not at the end of
    /// its period; and a cancelled token never waits.
    #[tokio::test]
    async fn a_cancelled_token_ends_the_wait_between_passes() {
        let stop = CancellationToken::new();
        let waiting = tokio::spawn({
            let stop = stop.clone();
            async move { next_pass(&stop, Duration::from_secs(3600)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits for the period");
        stop.cancel();
        let next = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("cancelling ends the wait at once")
            .unwrap();
        assert!(!next, "no pass after a cancel");
        assert!(!next_pass(&stop, Duration::from_secs(3600)).await);
        assert!(next_pass(&CancellationToken::new(), Duration::from_millis(1)).await);
    }

    #[test]
    fn failures_are_counted_and_cleared_by_a_pass() {
        let s = GuardStats::new();
        s.register(ROLLUPS);
        let r = &s.report()[0];
        assert_eq!((r.name.as_str(), r.passes, r.errors), (ROLLUPS, 0, 0));
        assert_eq!(r.work[CORRECTIONS_WRITTEN], 0);
        assert_eq!(r.work[HOUR_SEALS], 0);
        s.passed(ROLLUPS);
        s.add(ROLLUPS, HOUR_SEALS, 2);
        s.failed(ROLLUPS, &"table missing");
        s.failed(ROLLUPS, &"table still missing");
        let r = &s.report()[0];
        assert_eq!((r.passes, r.errors), (1, 2));
        assert_eq!(r.last_error.as_deref(), Some("table still missing"));
        assert!(r.failing_since.is_some() && r.last_error_at.is_some());
        assert_eq!(r.work[HOUR_SEALS], 2);
        s.passed(ROLLUPS);
        let r = &s.report()[0];
        assert_eq!((r.passes, r.errors, r.failing_since), (2, 2, None));
        assert_eq!(r.last_error.as_deref(), Some("table still missing"));
    }
}
