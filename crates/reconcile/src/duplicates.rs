//! Finds events stored more than once and records the extra copies in the
//! `*_duplicates` ledgers (schema migration 0004), whose views subtract them from the rollups.
//!
//! Cost: each pass reads only the parts written since the last one (`system.parts` block
//! numbers, then `_part IN (…)`), and groups the event ids of the time range those rows
//! cover — copies of a message share its event_time, and event_time leads the tables'
//! ORDER BY. For a live stream that is the last minute or so of events.

use clickhouse_http::template::Values;
use clickhouse_http::{quote, Client};
use serde::Deserialize;

use crate::{sql, Result};

/// The raw tables checked, with their ledger's recording statement.
const TABLES: [(&str, &str); 2] = [
    ("sales", include_str!("../sql/record_sales_duplicates.sql")),
    (
        "stock_movements",
        include_str!("../sql/record_stock_movements_duplicates.sql"),
    ),
];

/// What one pass found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Rows in the parts looked at.
    pub rows_checked: u64,
    /// Ledger rows written (events newly found duplicated).
    pub recorded: u64,
}

pub struct Duplicates {
    client: Client,
    db: String,
    /// Where copies and the ledger are counted: `db`, or in cluster mode the Distributed
    /// tables, so a copy on another shard is found too (recorded here, subtracted here).
    read_db: String,
}

impl Duplicates {
    /// `client` may write (it inserts into the ledgers and the watermark table).
    pub fn new(client: Client, db: &str) -> Self {
        Duplicates {
            client: client.with_database(db),
            db: db.to_string(),
            read_db: db.to_string(),
        }
    }

    /// Counts copies and ledger rows in `db` (cluster mode: the Distributed tables).
    pub fn reading_from(mut self, db: &str) -> Self {
        self.read_db = db.to_string();
        self
    }

    /// One pass over every table; safe to repeat.
    pub async fn pass(&self) -> Result<Pass> {
        let mut total = Pass::default();
        for (table, record) in TABLES {
            let p = self.pass_table(table, record).await?;
            total.rows_checked += p.rows_checked;
            total.recorded += p.recorded;
        }
        Ok(total)
    }

    async fn pass_table(&self, table: &str, record: &str) -> Result<Pass> {
        #[derive(Deserialize)]
        struct Part {
            name: String,
            max_block: i64,
        }
        #[derive(Deserialize)]
        struct Range {
            lo: u32,
            hi: u32,
            n: u64,
        }
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let db = self.db.as_str();
        // The ledger is read on every pass, new parts or not: one that is gone fails each
        // pass (and shows as a failing guard), not only the passes that find a part.
        let count = sql(
            "count_rows.sql",
            include_str!("../sql/count_rows.sql"),
            db,
            Values::new().ident("table", &format!("{table}_duplicates")),
        )?;
        let before: Count = self.client.query_one(&count).await?;
        let mark = crate::state::position(&self.client, db, table).await?;
        let parts: Vec<Part> = self
            .client
            .query(&sql(
                "new_parts.sql",
                include_str!("../sql/new_parts.sql"),
                db,
                Values::new().ident("table", table).int("watermark", mark),
            )?)
            .await?;
        let newest = parts.iter().map(|p| p.max_block).max().unwrap_or(mark);
        if parts.is_empty() || newest <= mark {
            return Ok(Pass::default());
        }
        let list = parts
            .iter()
            .map(|p| quote(&p.name))
            .collect::<Vec<_>>()
            .join(", ");
        let range: Range = self
            .client
            .query_one(&sql(
                "time_range.sql",
                include_str!("../sql/time_range.sql"),
                db,
                Values::new().ident("table", table).sql("parts", list),
            )?)
            .await?;
        let mut pass = Pass {
            rows_checked: range.n,
            recorded: 0,
        };
        if range.n > 0 {
            self.client
                .execute(&sql(
                    "record_duplicates.sql",
                    record,
                    db,
                    Values::new()
                        .int("lo", range.lo)
                        .int("hi", range.hi)
                        .ident("read_db", &self.read_db),
                )?)
                .await?;
            let after: Count = self.client.query_one(&count).await?;
            pass.recorded = after.n.saturating_sub(before.n);
            if pass.recorded > 0 {
                tracing::info!(
                    table,
                    events = pass.recorded,
                    "duplicate deliveries recorded and subtracted"
                );
            }
        }
        if newest > mark {
            crate::state::save(&self.client, db, &[(table.to_string(), newest)]).await?;
        }
        Ok(pass)
    }
}
