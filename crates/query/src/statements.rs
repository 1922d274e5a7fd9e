//! Every statement the page runs: its `.sql` file and the row it returns, declared together,
//! in the order of `sql/`. A column added to a file has this one place in Rust to go; the
//! row types the API hands on as they are (`RecentSale`, `MovementMix`, `StockLevel`,
//! `TableAudit`) are declared in `lib.rs` with the rest of the API and named here.

use clickhouse_http::statement;

use crate::{MovementMix, RecentSale, StockLevel, TableAudit};

statement!(pub(crate) AUDIT_TABLE = "audit_table" => TableAudit);
statement!(pub(crate) CUSTOMERS = "customers" => CustomersRow {
    current: u8,
    unique_customers: u64,
});
statement!(pub(crate) DEAD_LETTERS = "dead_letters" => TopicRows { topic: String, rows: u64 });
statement!(pub(crate) EXISTING_TABLES = "existing_tables" => TableName { name: String });
statement!(pub(crate) LANDED_EVENT_IDS = "landed_event_ids" => EventId { event_id: String });
statement!(pub(crate) LAST_24_HOURS = "last_24_hours" => Hours {
    t: Vec<u32>,
    labels: Vec<String>,
});
statement!(pub(crate) LATEST_DEAD_LETTERS = "latest_dead_letters" => DeadLetterRow {
    received_at: u32, topic: String, partition: i32, offset: i64,
    reason: String, raw_hex: String, bytes: u64,
});
statement!(pub(crate) MOVEMENT_MIX = "movement_mix" => MovementMix);
statement!(pub(crate) OVERVIEW_SALES = "overview_sales" => SalesRow {
    current: u8, t: u32, category_name: String, orders: u64, items: u64, kopecks: i64,
});
statement!(pub(crate) RECENT_SALES = "recent_sales" => RecentSale);
statement!(pub(crate) SALES_HOURLY = "sales_hourly" => HourRow {
    t: u32,
    quantity: u64,
    revenue: f64,
});
statement!(pub(crate) STOCK_LEVELS = "stock_levels" => StockLevel);
statement!(pub(crate) STOCK_LEVELS_BY_PRODUCT = "stock_levels_by_product" => StockLevel);
statement!(pub(crate) STOCK_TOP = "stock_top" => ProductFlow {
    product_name: String,
    incoming: u64,
    outgoing: u64,
});
statement!(pub(crate) TABLE_ROWS = "table_rows" => TableRows { table: String, rows: u64 });

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
                    source.contains(&format!("= \"{stem}\" =>")),
                    "sql/{stem}.sql has no statement in statements.rs"
                );
            }
        }
    }
}
