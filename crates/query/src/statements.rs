//! Every statement the page runs: its `.sql` file and the row it returns, declared together,
//! in the order of `sql/`. A column added to a file has this one place in Rust to go; the
//! row types the API hands on as they are (`RecentSale`, `MovementMix`, `StockLevel`,
//! `TableAudit`) are declared in `lib.rs` with the rest of the API and named here.

use std::marker::PhantomData;

use serde::Deserialize;

use crate::{MovementMix, RecentSale, StockLevel, TableAudit};

/// A `.sql` file of `sql/` and the row it returns.
pub(crate) struct Statement<Row> {
    pub name: &'static str,
    pub text: &'static str,
    row: PhantomData<fn() -> Row>,
}

/// `statement!("name")` is `sql/name.sql` with the row type the binding names.
macro_rules! statement {
    ($name:literal) => {
        Statement {
            name: $name,
            text: include_str!(concat!("../sql/", $name, ".sql")),
            row: PhantomData,
        }
    };
}

pub(crate) const AUDIT_TABLE: Statement<TableAudit> = statement!("audit_table");

#[derive(Deserialize)]
pub(crate) struct CustomersRow {
    pub current: u8,
    pub unique_customers: u64,
}
pub(crate) const CUSTOMERS: Statement<CustomersRow> = statement!("customers");

#[derive(Deserialize)]
pub(crate) struct TopicRows {
    pub topic: String,
    pub rows: u64,
}
pub(crate) const DEAD_LETTERS: Statement<TopicRows> = statement!("dead_letters");

#[derive(Deserialize)]
pub(crate) struct TableName {
    pub name: String,
}
pub(crate) const EXISTING_TABLES: Statement<TableName> = statement!("existing_tables");

#[derive(Deserialize)]
pub(crate) struct EventId {
    pub event_id: String,
}
pub(crate) const LANDED_EVENT_IDS: Statement<EventId> = statement!("landed_event_ids");

#[derive(Deserialize)]
pub(crate) struct Hours {
    pub t: Vec<u32>,
    pub labels: Vec<String>,
}
pub(crate) const LAST_24_HOURS: Statement<Hours> = statement!("last_24_hours");

#[derive(Deserialize)]
pub(crate) struct DeadLetterRow {
    pub received_at: u32,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    pub raw_hex: String,
    pub bytes: u64,
}
pub(crate) const LATEST_DEAD_LETTERS: Statement<DeadLetterRow> = statement!("latest_dead_letters");

pub(crate) const MOVEMENT_MIX: Statement<MovementMix> = statement!("movement_mix");

#[derive(Deserialize)]
pub(crate) struct SalesRow {
    pub current: u8,
    pub t: u32,
    pub category_name: String,
    pub orders: u64,
    pub items: u64,
    pub kopecks: i64,
}
pub(crate) const OVERVIEW_SALES: Statement<SalesRow> = statement!("overview_sales");

pub(crate) const RECENT_SALES: Statement<RecentSale> = statement!("recent_sales");

#[derive(Deserialize)]
pub(crate) struct HourRow {
    pub t: u32,
    pub quantity: u64,
    pub revenue: f64,
}
pub(crate) const SALES_HOURLY: Statement<HourRow> = statement!("sales_hourly");

pub(crate) const STOCK_LEVELS: Statement<StockLevel> = statement!("stock_levels");
pub(crate) const STOCK_LEVELS_BY_PRODUCT: Statement<StockLevel> =
    statement!("stock_levels_by_product");

#[derive(Deserialize)]
pub(crate) struct ProductFlow {
    pub product_name: String,
    pub incoming: u64,
    pub outgoing: u64,
}
pub(crate) const STOCK_TOP: Statement<ProductFlow> = statement!("stock_top");

#[derive(Deserialize)]
pub(crate) struct TableRows {
    pub table: String,
    pub rows: u64,
}
pub(crate) const TABLE_ROWS: Statement<TableRows> = statement!("table_rows");

#[cfg(test)]
mod tests {
    /// Every file of `sql/` (the tiers' own aside) is declared here with its row.
    #[test]
    fn every_sql_file_is_a_declared_statement() {
        let source = include_str!("statements.rs");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sql") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                assert!(
                    source.contains(&format!("statement!(\"{stem}\")")),
                    "sql/{stem}.sql has no statement in statements.rs"
                );
            }
        }
    }
}
