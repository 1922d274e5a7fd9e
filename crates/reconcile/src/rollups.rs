//! Keeps the rollups equal to the raw tables when a Kafka block's fan-out was cut short.
//!
//! A block from a Kafka table reaches its targets as one insert per view, not as one
//! transaction. A server killed between two of them leaves the block in some targets (say
//! `sales_by_minute`) and not in others (`sales`); the engine never committed it, so it
//! delivers it again to all of them, and the rollup counts it twice. The duplicate ledger
//! cannot see that: the raw table holds the block once.
//!
//! So, every pass:
//! - **minutes touched**: the parts written since the last pass to a raw table or to its
//!   minute rollup give the minutes their rows fall in;
//! - **settle**: a minute is checked once nothing new has touched it for [`SETTLE`] (a
//!   block's fan-out takes milliseconds; a block still on its way would look like drift);
//! - **check**: per rollup key of those minutes, one copy of each event in the raw table
//!   against the rollup's sums (`sql/correct_*_by_minute.sql`); a difference is written to
//!   `*_corrections`, whose view adds it to the rollup in the same INSERT. Nothing is
//!   written where they agree; a correction is itself a new rollup part, so its minute is
//!   checked once more and found equal.
//! - **stock_levels** has no time column: every [`LEVELS_PERIOD`] it is compared with
//!   `stock_by_minute`'s all-time sums, and a difference is corrected only if a second
//!   look [`LEVELS_CONFIRM`] later finds exactly the same one (a block in flight between
//!   the two tables shows for a moment and then goes).
//!
//! - **seal**: checked minutes are then sealed into the coarser tiers of migration 0006,
//!   which the page reads for long ranges, through `query::tiers` (where the reading side
//!   is too): customers per minute, and once an hour is over and all its minutes are
//!   checked, sums and customers per hour.
//!
//! The watermark (block numbers of parts whose minutes are all checked and whose hours are
//! sealed) is kept in `reconcile_state` under `rollups:{table}`, so a restart goes on where
//! it stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clickhouse_http::template::Values;
use clickhouse_http::{quote, Client};
use query::tiers;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::{sql, Result};

/// How long a minute must be left alone before it is checked.
pub const SETTLE: Duration = Duration::from_secs(3);
/// How often stock_levels is compared with stock_by_minute.
pub const LEVELS_PERIOD: Duration = Duration::from_secs(30);
/// How long a stock_levels difference must stay the same before it is corrected.
pub const LEVELS_CONFIRM: Duration = Duration::from_secs(5);
/// Minutes per check query (each reads those minutes of the raw table).
const MINUTES_PER_CHECK: usize = 60;
/// Check queries per pass, so a long catch-up (first start on old data) is spread out.
const CHECKS_PER_PASS: usize = 10;
/// Hours per seal query.
const HOURS_PER_SEAL: usize = 24;

/// A raw table and its minute rollup, checked together.
struct Family {
    rollup: &'static str,
    corrections: &'static str,
    correct: &'static str,
    /// The tiers its checked minutes and whole hours are sealed into.
    tiers: tiers::Family,
    watched: [Watched; 2],
    /// Minute (unix seconds) → when a part last touched it.
    pending: BTreeMap<u32, Instant>,
    /// Minute → its hour in the server's time zone, for minutes pending or outstanding.
    hour_of: BTreeMap<u32, u32>,
    /// Hours with checked minutes that are not sealed since.
    unsealed: BTreeSet<u32>,
}

/// One table whose new parts mark minutes for checking.
struct Watched {
    table: &'static str,
    /// The minute of a row, in this table's columns.
    minute_of_row: &'static str,
    /// Highest block number looked at; `None` until read from `reconcile_state`.
    scanned: Option<i64>,
    /// Watermark last saved.
    saved: i64,
    /// Single-block parts already looked at (name → block), for the slack below `scanned`.
    seen: HashMap<String, i64>,
    /// Lowest block of each scan → its minutes not yet checked.
    outstanding: BTreeMap<i64, BTreeSet<u32>>,
}

impl Family {
    /// Lets go of minutes that are checked and whose hour is sealed: the watermark may pass
    /// their parts.
    fn forget_done(&mut self) {
        let keep = |m: &u32| {
            self.pending.contains_key(m)
                || self
                    .hour_of
                    .get(m)
                    .is_some_and(|h| self.unsealed.contains(h))
        };
        for watched in &mut self.watched {
            for minutes in watched.outstanding.values_mut() {
                minutes.retain(|m| keep(m));
            }
            watched.outstanding.retain(|_, m| !m.is_empty());
        }
        let held: BTreeSet<u32> = self
            .watched
            .iter()
            .flat_map(|w| w.outstanding.values().flatten().copied())
            .chain(self.pending.keys().copied())
            .collect();
        self.hour_of.retain(|m, _| held.contains(m));
    }
}

impl Watched {
    fn new(table: &'static str, minute_of_row: &'static str) -> Self {
        Watched {
            table,
            minute_of_row,
            scanned: None,
            saved: 0,
            seen: HashMap::new(),
            outstanding: BTreeMap::new(),
        }
    }

    /// Below this block every part's minutes have been checked.
    fn safe(&self) -> i64 {
        let scanned = self.scanned.unwrap_or(0);
        self.outstanding
            .iter()
            .find(|(_, m)| !m.is_empty())
            .map_or(scanned, |(b, _)| (b - 1).min(scanned))
            .max(self.saved)
    }

    fn state_key(&self) -> String {
        format!("rollups:{}", self.table)
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Minutes compared with the raw tables.
    pub minutes_checked: u64,
    /// Correction rows written (rollup keys that differed), stock_levels included.
    pub corrected: u64,
    /// Minutes touched and not yet settled.
    pub minutes_pending: u64,
    /// Hours sealed into the hour tiers (each family counts its own).
    pub hours_sealed: u64,
}

type LevelsKey = (String, u32, String);
type LevelsDrift = BTreeMap<LevelsKey, (i64, i64, i64)>;

pub struct Rollups {
    client: Client,
    db: String,
    /// Where rows and rollups are compared: `db`, or in cluster mode the Distributed tables
    /// (the figures are the cluster's; a correction written here fixes the total).
    read_db: String,
    families: [Family; 2],
    levels_checked: Option<Instant>,
    levels_candidate: Option<(Instant, LevelsDrift)>,
}

impl Rollups {
    /// `client` may write (corrections and `reconcile_state`).
    pub fn new(client: Client, db: &str) -> Self {
        Rollups {
            client: client.with_database(db),
            db: db.to_string(),
            read_db: db.to_string(),
            families: [
                Family {
                    rollup: "sales_by_minute",
                    corrections: "sales_by_minute_corrections",
                    correct: include_str!("../sql/correct_sales_by_minute.sql"),
                    tiers: tiers::Family::Sales,
                    watched: [
                        Watched::new("sales", "toStartOfMinute(event_time)"),
                        Watched::new("sales_by_minute", "minute"),
                    ],
                    pending: BTreeMap::new(),
                    hour_of: BTreeMap::new(),
                    unsealed: BTreeSet::new(),
                },
                Family {
                    rollup: "stock_by_minute",
                    corrections: "stock_by_minute_corrections",
                    correct: include_str!("../sql/correct_stock_by_minute.sql"),
                    tiers: tiers::Family::Stock,
                    watched: [
                        Watched::new("stock_movements", "toStartOfMinute(event_time)"),
                        Watched::new("stock_by_minute", "minute"),
                    ],
                    pending: BTreeMap::new(),
                    hour_of: BTreeMap::new(),
                    unsealed: BTreeSet::new(),
                },
            ],
            levels_checked: None,
            levels_candidate: None,
        }
    }

    /// Compares rows and rollups in `db` (cluster mode: the Distributed tables).
    pub fn reading_from(mut self, db: &str) -> Self {
        self.read_db = db.to_string();
        self
    }

    /// One pass: note the minutes new parts touched, check the settled ones, seal what is
    /// checked, look at stock_levels when due. Safe to repeat.
    pub async fn pass(&mut self) -> Result<Pass> {
        let mut pass = Pass::default();
        for i in 0..self.families.len() {
            for w in 0..2 {
                self.scan(i, w).await?;
            }
            let (checked, corrected) = self.check(i).await?;
            pass.minutes_checked += checked;
            pass.corrected += corrected;
            pass.hours_sealed += self.seal(i).await?;
            pass.minutes_pending += self.families[i].pending.len() as u64;
        }
        self.save().await?;
        pass.corrected += self.check_levels().await?;
        Ok(pass)
    }

    /// Passes until nothing is pending, a pass checks and seals nothing more, and
    /// stock_levels has been compared and any difference confirmed and corrected (a first
    /// start on history, a bulk load, `up`'s last pass): what they did, added up.
    pub async fn catch_up(&mut self) -> Result<Pass> {
        // stock_levels is looked at now rather than a period after the last look: a fan-out
        // cut short just before `up` stops would otherwise leave it wrong until the next up.
        self.levels_checked = None;
        let mut total = Pass::default();
        loop {
            let pass = self.pass().await?;
            total.minutes_checked += pass.minutes_checked;
            total.corrected += pass.corrected;
            total.hours_sealed += pass.hours_sealed;
            let levels_settled = self.levels_checked.is_some() && self.levels_candidate.is_none();
            if pass.minutes_pending == 0
                && pass.minutes_checked == 0
                && pass.hours_sealed == 0
                && levels_settled
            {
                return Ok(total);
            }
            if pass.minutes_checked == 0 && pass.hours_sealed == 0 {
                // Waiting for minutes to settle.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// Marks the minutes of `families[f].watched[w]`'s new parts as touched now.
    async fn scan(&mut self, f: usize, w: usize) -> Result<()> {
        #[derive(Deserialize)]
        struct Part {
            name: String,
            min_block: i64,
            max_block: i64,
            level: u32,
        }
        #[derive(Deserialize)]
        struct Minute {
            #[serde(rename = "touched_minute")]
            minute: u32,
            #[serde(rename = "touched_hour")]
            hour: u32,
        }
        let db = self.db.clone();
        let watched = &self.families[f].watched[w];
        let scanned = match watched.scanned {
            Some(s) => s,
            None => {
                let mark = crate::state::position(&self.client, &db, &watched.state_key()).await?;
                let watched = &mut self.families[f].watched[w];
                watched.scanned = Some(mark);
                watched.saved = mark;
                mark
            }
        };
        let watched = &self.families[f].watched[w];
        let parts: Vec<Part> = self
            .client
            .query(&sql(
                "rollup_parts.sql",
                include_str!("../sql/rollup_parts.sql"),
                &db,
                Values::new()
                    .ident("table", watched.table)
                    .int("watermark", scanned),
            )?)
            .await?;
        // A merged part above the watermark holds a block not looked at yet; a single-block
        // part in the slack below it is looked at once.
        let new: Vec<&Part> = parts
            .iter()
            .filter(|p| {
                if p.level == 0 {
                    !watched.seen.contains_key(&p.name)
                } else {
                    p.max_block > scanned
                }
            })
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let list = new
            .iter()
            .map(|p| quote(&p.name))
            .collect::<Vec<_>>()
            .join(", ");
        let minutes: Vec<Minute> = self
            .client
            .query(&sql(
                "part_minutes.sql",
                include_str!("../sql/part_minutes.sql"),
                &db,
                Values::new()
                    .ident("table", watched.table)
                    .sql("minute_of_row", watched.minute_of_row)
                    .sql("parts", list),
            )?)
            .await?;
        let now = Instant::now();
        let lowest = new.iter().map(|p| p.min_block).min().unwrap_or(scanned);
        let highest = new.iter().map(|p| p.max_block).max().unwrap_or(scanned);
        let family = &mut self.families[f];
        for m in &minutes {
            family.pending.insert(m.minute, now);
            family.hour_of.insert(m.minute, m.hour);
        }
        let watched = &mut family.watched[w];
        watched
            .outstanding
            .entry(lowest)
            .or_default()
            .extend(minutes.iter().map(|m| m.minute));
        for p in &new {
            if p.level == 0 {
                watched.seen.insert(p.name.clone(), p.max_block);
            }
        }
        let top = watched.scanned.unwrap_or(0).max(highest);
        watched.scanned = Some(top);
        watched.seen.retain(|_, b| *b > top - 64);
        Ok(())
    }

    /// Checks the family's settled minutes: (minutes checked, corrections written).
    async fn check(&mut self, f: usize) -> Result<(u64, u64)> {
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let now = Instant::now();
        let family = &self.families[f];
        let ready: Vec<(u32, Instant)> = family
            .pending
            .iter()
            .filter(|(_, t)| now.duration_since(**t) >= SETTLE)
            .map(|(m, t)| (*m, *t))
            .collect();
        if ready.is_empty() {
            return Ok((0, 0));
        }
        let count = sql(
            "count_rows.sql",
            include_str!("../sql/count_rows.sql"),
            &self.db,
            Values::new().ident("table", family.corrections),
        )?;
        let before: Count = self.client.query_one(&count).await?;
        let mut checked = Vec::new();
        for chunk in ready.chunks(MINUTES_PER_CHECK).take(CHECKS_PER_PASS) {
            let lo = chunk[0].0;
            let hi = chunk[chunk.len() - 1].0 + 60;
            let minutes: Vec<u32> = chunk.iter().map(|(m, _)| *m).collect();
            let list = minutes
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            self.client
                .execute(&sql(
                    "correct_by_minute.sql",
                    family.correct,
                    &self.db,
                    Values::new()
                        .int("lo", lo)
                        .int("hi", hi)
                        .sql("minutes", list)
                        .ident("read_db", &self.read_db),
                )?)
                .await?;
            for seal in tiers::seal(family.tiers.minutes(), &self.db, lo, hi, &minutes)? {
                self.client.execute(&seal).await?;
            }
            checked.extend_from_slice(chunk);
        }
        let after: Count = self.client.query_one(&count).await?;
        let corrected = after.n.saturating_sub(before.n);
        if corrected > 0 {
            tracing::warn!(
                rollup = family.rollup,
                keys = corrected,
                minutes = checked.len(),
                "rollup differed from its raw table (a fan-out cut short); corrected"
            );
        }
        let family = &mut self.families[f];
        for (m, seen_at) in &checked {
            // Touched again while being checked: it waits for the next settle.
            if family.pending.get(m) == Some(seen_at) {
                family.pending.remove(m);
            }
            if let Some(hour) = family.hour_of.get(m) {
                family.unsealed.insert(*hour);
            }
        }
        family.forget_done();
        Ok((checked.len() as u64, corrected))
    }

    /// Seals the family's hours that are over, with every minute checked: (hours sealed).
    async fn seal(&mut self, f: usize) -> Result<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let family = &self.families[f];
        let busy: BTreeSet<u32> = family
            .pending
            .keys()
            .filter_map(|m| family.hour_of.get(m).copied())
            .collect();
        let ready = tiers::ready_hours(&family.unsealed, &busy, now, SETTLE.as_secs());
        let mut sealed = Vec::new();
        for chunk in ready.chunks(HOURS_PER_SEAL).take(CHECKS_PER_PASS) {
            let lo = chunk[0];
            let hi = chunk[chunk.len() - 1] + 3600;
            for seal in tiers::seal(family.tiers.hours(), &self.db, lo, hi, chunk)? {
                self.client.execute(&seal).await?;
            }
            sealed.extend_from_slice(chunk);
        }
        if !sealed.is_empty() {
            tracing::debug!(rollup = family.rollup, hours = sealed.len(), "hours sealed");
        }
        let family = &mut self.families[f];
        for h in &sealed {
            family.unsealed.remove(h);
        }
        family.forget_done();
        Ok(sealed.len() as u64)
    }

    /// Saves the watermarks that moved, in one insert.
    async fn save(&mut self) -> Result<()> {
        let mut moved = Vec::new();
        for family in &mut self.families {
            for watched in &mut family.watched {
                let safe = watched.safe();
                if safe > watched.saved {
                    moved.push((watched.state_key(), safe));
                    watched.saved = safe;
                }
            }
        }
        crate::state::save(&self.client, &self.db, &moved).await
    }

    /// Compares stock_levels with stock_by_minute when due; corrects a difference that a
    /// second look finds unchanged. Returns the correction rows written.
    async fn check_levels(&mut self) -> Result<u64> {
        let now = Instant::now();
        match &self.levels_candidate {
            Some((first_at, _)) if now.duration_since(*first_at) < LEVELS_CONFIRM => return Ok(0),
            None if self
                .levels_checked
                .is_some_and(|t| now.duration_since(t) < LEVELS_PERIOD) =>
            {
                return Ok(0)
            }
            _ => {}
        }
        let drift = self.levels_drift().await?;
        let Some((_, first)) = self.levels_candidate.take() else {
            if drift.is_empty() {
                self.levels_checked = Some(now);
            } else {
                self.levels_candidate = Some((now, drift));
            }
            return Ok(0);
        };
        self.levels_checked = Some(now);
        let (stayed, changed): (LevelsDrift, LevelsDrift) = drift
            .into_iter()
            .partition(|(k, v)| first.get(k) == Some(v));
        // What changed since the first look (a block in flight, or stock_by_minute corrected
        // meanwhile) is looked at again after LEVELS_CONFIRM, not after a whole period.
        if !changed.is_empty() {
            self.levels_candidate = Some((now, changed));
        }
        let stayed: Vec<String> = stayed
            .iter()
            .map(|((warehouse, product_id, product_name), (s, r, w))| {
                format!(
                    "({}, {product_id}, {}, {s}, {r}, {w})",
                    quote(warehouse),
                    quote(product_name)
                )
            })
            .collect();
        if stayed.is_empty() {
            return Ok(0);
        }
        self.client
            .execute(&sql(
                "correct_stock_levels.sql",
                include_str!("../sql/correct_stock_levels.sql"),
                &self.db,
                Values::new().sql("rows", stayed.join(", ")),
            )?)
            .await?;
        tracing::warn!(
            keys = stayed.len(),
            "stock_levels differed from stock_by_minute (a fan-out cut short); corrected"
        );
        Ok(stayed.len() as u64)
    }

    async fn levels_drift(&self) -> Result<LevelsDrift> {
        #[derive(Deserialize)]
        struct Row {
            warehouse: String,
            product_id: u32,
            product_name: String,
            supplied: i64,
            relocated: i64,
            written_off: i64,
        }
        let rows: Vec<Row> = self
            .client
            .query(&sql(
                "stock_levels_drift.sql",
                include_str!("../sql/stock_levels_drift.sql"),
                &self.db,
                Values::new().ident("read_db", &self.read_db),
            )?)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    (r.warehouse, r.product_id, r.product_name),
                    (r.supplied, r.relocated, r.written_off),
                )
            })
            .collect())
    }
}

/// Runs duplicate checks and rollup checks one after another, every `period`, until `stop`:
/// in cluster mode one of each per shard, all comparing the cluster's totals, so one must
/// see what the one before it wrote (side by side, two would correct the same difference).
/// Each pass of each is counted in `stats` (guards `duplicates` and `rollups`), which logs
/// failures.
pub async fn run_checks(
    mut duplicates: Vec<crate::duplicates::Duplicates>,
    mut rollups: Vec<Rollups>,
    period: Duration,
    stop: CancellationToken,
    stats: Arc<crate::GuardStats>,
) {
    use crate::guards::{
        CORRECTIONS_WRITTEN, DUPLICATES, DUPLICATES_RECORDED, HOUR_SEALS, ROLLUPS,
    };
    stats.register(DUPLICATES);
    stats.register(ROLLUPS);
    while !stop.is_cancelled() {
        let mut result = Ok(());
        for d in &mut duplicates {
            match d.pass().await {
                Ok(p) => {
                    tracing::debug!(?p, "duplicate check pass");
                    stats.add(DUPLICATES, DUPLICATES_RECORDED, p.recorded);
                }
                Err(e) => result = Err(e),
            }
        }
        match std::mem::replace(&mut result, Ok(())) {
            Ok(()) => stats.passed(DUPLICATES),
            Err(e) => stats.failed(DUPLICATES, &e),
        }
        for r in &mut rollups {
            match r.pass().await {
                Ok(p) => {
                    tracing::debug!(?p, "rollup check pass");
                    stats.add(ROLLUPS, CORRECTIONS_WRITTEN, p.corrected);
                    stats.add(ROLLUPS, HOUR_SEALS, p.hours_sealed);
                }
                Err(e) => result = Err(e),
            }
        }
        match result {
            Ok(()) => stats.passed(ROLLUPS),
            Err(e) => stats.failed(ROLLUPS, &e),
        }
        if !crate::guards::next_pass(&stop, period).await {
            break;
        }
    }
}
