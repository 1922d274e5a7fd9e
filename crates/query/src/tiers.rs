//! The coarser tiers of migration 0006, written and read in one place, because each side
//! relies on the other: the page takes every hour below the newest sealed one from an hour
//! tier, so the sealer must seal hours in order and only once they are whole.
//!
//! - **Sealing** (`sql/tiers/seal_*.sql`, run by the rollup check in `crates/reconcile` once
//!   it has checked a family's minutes): customers per minute from the raw sales; then,
//!   once an hour is over and all its minutes are checked ([`ready_hours`]), sums and
//!   customers per hour. A seal writes only what differs from what the tier holds, so an
//!   hour sealed again after a late event or a correction below it is counted once.
//! - **Reading** (`sql/tiers/read.sql`, `read_customers.sql`): a rollup from some moment
//!   on, from its hour tier where sealed and its minute tier elsewhere.

use std::collections::BTreeSet;

use clickhouse_http::template::{self, Values};
use clickhouse_http::{Error, Result};

use crate::Queries;

/// A raw table's family of tiers, as the sealer fills them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `sales`: customers per minute, then sums and customers per hour.
    Sales,
    /// `stock_movements`: sums per hour.
    Stock,
}

/// The seals of one stage of a family, in order: the files and the name of the list of
/// minutes or hours they take.
pub struct Seals {
    files: &'static [(&'static str, &'static str)],
    list: &'static str,
}

impl Family {
    /// Checked minutes into a minute tier fed from the raw table (customers).
    pub fn minutes(self) -> Seals {
        let files: &'static [(&str, &str)] = match self {
            Family::Sales => &[(
                "tiers/seal_customers_by_minute",
                include_str!("../sql/tiers/seal_customers_by_minute.sql"),
            )],
            Family::Stock => &[],
        };
        Seals {
            files,
            list: "minutes",
        }
    }

    /// Whole hours (as [`ready_hours`] gives them) into the hour tiers.
    pub fn hours(self) -> Seals {
        let files: &'static [(&str, &str)] = match self {
            Family::Sales => &[
                (
                    "tiers/seal_sales_by_hour",
                    include_str!("../sql/tiers/seal_sales_by_hour.sql"),
                ),
                (
                    "tiers/seal_customers_by_hour",
                    include_str!("../sql/tiers/seal_customers_by_hour.sql"),
                ),
            ],
            Family::Stock => &[(
                "tiers/seal_stock_by_hour",
                include_str!("../sql/tiers/seal_stock_by_hour.sql"),
            )],
        };
        Seals {
            files,
            list: "hours",
        }
    }
}

/// The statements of `seals` over `at` (unix seconds, ascending, within `[lo, hi)`) in
/// database `db`, to run in order once the rollup check has found those minutes equal to
/// the raw table.
pub fn seal(seals: Seals, db: &str, lo: u32, hi: u32, at: &[u32]) -> Result<Vec<String>> {
    let at = at.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let values = Values::new()
        .ident("db", db)
        .int("lo", lo)
        .int("hi", hi)
        .sql(seals.list, at);
    seals
        .files
        .iter()
        .map(|(name, text)| {
            template::render(name, text, &values, &|_| None).map_err(Error::Invalid)
        })
        .collect()
}

/// The `unsealed` hours to seal now, oldest first: over for `settle` already (the hour's
/// last blocks have reached every table), and before any hour in `busy` (one with a minute
/// not checked yet). Pages take every hour below the newest sealed one from the hour tier,
/// so an hour is never sealed past one that is not sealed yet.
pub fn ready_hours(
    unsealed: &BTreeSet<u32>,
    busy: &BTreeSet<u32>,
    now: u64,
    settle: u64,
) -> Vec<u32> {
    let first_busy = busy.first().copied().unwrap_or(u32::MAX);
    unsealed
        .iter()
        .copied()
        .take_while(|h| *h < first_busy && u64::from(*h) + 3600 + settle <= now)
        .collect()
}

/// The rollups the page reads through `sql/tiers/read*.sql`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tier {
    Sales,
    Stock,
    Customers,
}

impl Queries {
    /// A rollup from `since` on, to read as a subquery: from its hour tier where sealed and
    /// its minute tier elsewhere, no hour cut by `split` (a period boundary the caller groups
    /// by) read whole. Returned as the value the page's query names it by.
    pub(crate) fn tier(&self, tier: Tier, since: u32, split: u32) -> Result<Values> {
        let (name, hours, minutes, columns) = match tier {
            Tier::Sales => (
                "sales",
                "sales_by_hour",
                "sales_by_minute",
                "category, product_id, orders, items, revenue",
            ),
            Tier::Stock => (
                "stock",
                "stock_by_hour",
                "stock_by_minute",
                "product_id, product_name, movement_type, events, quantity",
            ),
            Tier::Customers => (
                "customers",
                "customers_by_hour",
                "customers_by_minute",
                "customers",
            ),
        };
        let bounds = Values::new().int("since", since).int("split", split);
        let read = self.sql(
            "tiers/read",
            include_str!("../sql/tiers/read.sql"),
            bounds
                .clone()
                .ident("hours", hours)
                .ident("minutes", minutes)
                .sql("columns", columns),
        )?;
        let sql = match tier {
            // Customers add what is newer than the last sealed minute, from the raw sales.
            Tier::Customers => self.sql(
                "tiers/read_customers",
                include_str!("../sql/tiers/read_customers.sql"),
                bounds.sql("sealed", read),
            )?,
            _ => read,
        };
        Ok(Values::new().sql(name, sql))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{ready_hours, seal, Family};

    const SETTLE: u64 = 3;

    #[test]
    fn hours_are_sealed_in_order_once_over() {
        let set = |h: &[u32]| h.iter().copied().collect::<BTreeSet<u32>>();
        let now = 10 * 3600 + 30 * 60; // half past ten
                                       // Hours 7, 8, 9 over; 10 still running.
        let unsealed = set(&[7 * 3600, 8 * 3600, 9 * 3600, 10 * 3600]);
        assert_eq!(
            ready_hours(&unsealed, &set(&[10 * 3600]), now, SETTLE),
            vec![7 * 3600, 8 * 3600, 9 * 3600]
        );
        // A minute of 8 o'clock still pending (a late event): 9 waits for it too.
        assert_eq!(
            ready_hours(&unsealed, &set(&[8 * 3600, 10 * 3600]), now, SETTLE),
            vec![7 * 3600]
        );
        // An hour just over waits out the settle time.
        let just_over = 10 * 3600 + SETTLE as u32 - 1;
        assert_eq!(
            ready_hours(&set(&[9 * 3600]), &set(&[]), just_over.into(), SETTLE),
            Vec::<u32>::new()
        );
        assert_eq!(
            ready_hours(&set(&[9 * 3600]), &set(&[]), (just_over + 1).into(), SETTLE),
            vec![9 * 3600]
        );
    }

    #[test]
    fn each_family_seals_its_own_tiers() {
        let minutes = seal(Family::Sales.minutes(), "shop", 60, 180, &[60, 120]).unwrap();
        assert_eq!(minutes.len(), 1);
        assert!(minutes[0].contains("INSERT INTO shop.customers_by_minute"));
        assert!(minutes[0].contains("IN (60, 120)"));
        assert!(seal(Family::Stock.minutes(), "shop", 60, 120, &[60])
            .unwrap()
            .is_empty());
        let hours = seal(Family::Sales.hours(), "shop", 3600, 7200, &[3600]).unwrap();
        assert!(hours[0].contains("INSERT INTO shop.sales_by_hour"));
        assert!(hours[1].contains("INSERT INTO shop.customers_by_hour"));
        let stock = seal(Family::Stock.hours(), "shop", 3600, 7200, &[3600]).unwrap();
        assert_eq!(stock.len(), 1);
        assert!(stock[0].contains("INSERT INTO shop.stock_by_hour"));
        assert!(seal(Family::Stock.hours(), "bad name", 0, 1, &[0]).is_err());
    }
}
