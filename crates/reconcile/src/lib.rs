//! Keeps what ClickHouse consumed whole, beside the Kafka engine (run by `pipeline up`):
//!
//! - [`duplicates`]: the Kafka engine delivers at least once; a copy stored twice after a
//!   rebalance or a failed commit is recorded in a ledger whose views take it back out of
//!   the rollups, so every figure counts each event_id once.
//! - [`rescue`]: on servers without the error stream mode (18.16), a message even the raw
//!   reader cannot take stops its Kafka table for good; the rescue moves the stuck messages
//!   through the same parsing views by another door and lets the table go on.

pub mod duplicates;
pub mod rescue;

use std::collections::BTreeMap;

use clickhouse_http::{quote, template};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse_http::Error),
    #[error(transparent)]
    Kafka(#[from] publish::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Renders one of this crate's `.sql` files (no feature blocks).
fn sql(name: &str, source: &str, db: &str, extra: &[(&'static str, String)]) -> Result<String> {
    let mut values = BTreeMap::from([("db", db.to_string()), ("db_name", quote(db))]);
    values.extend(extra.iter().cloned());
    template::render(name, source, &values, &|_| None).map_err(Error::Other)
}
