//! Keeps what ClickHouse consumed whole, beside the Kafka engine (run by `pipeline up`):
//!
//! - [`duplicates`]: the Kafka engine delivers at least once; a copy stored twice after a
//!   rebalance or a failed commit is recorded in a ledger whose views take it back out of
//!   the rollups, so every figure counts each event_id once.
//! - [`rescue`]: on servers without the error stream mode (18.16), a message even the raw
//!   reader cannot take stops its Kafka table for good; the rescue moves the stuck messages
//!   through the same parsing views by another door and lets the table go on.
//! - [`rollups`]: a block's fan-out cut short (the server killed between two views) leaves
//!   it in some targets and not others, and it is then delivered to all of them again; the
//!   rollups are checked against the raw tables and a difference is written as a correction.
//! - [`verify`]: on the same servers, the engine can skip a message (one its reader cannot
//!   take) or commit one it never wrote; the verifier compares what the group committed
//!   with what the tables hold and replays whatever is missing.

pub mod duplicates;
pub mod guards;
pub mod replay;
pub mod rescue;
pub mod rollups;
pub mod verify;

pub use guards::{GuardReport, GuardStats};

/// One topic as ClickHouse consumes it: its Kafka table, the table its events land in, the
/// replay table that is the other door into the same views, and the engine's group.
#[derive(Debug, Clone)]
pub struct Source {
    pub kafka_table: String,
    pub target_table: String,
    pub replay_table: String,
    pub topic: String,
    pub group: String,
}

impl Source {
    /// The schema's two sources; `group_for` names the engine's group of a topic.
    pub fn both(
        sales_topic: &str,
        warehouse_topic: &str,
        group_for: impl Fn(&str) -> String,
    ) -> Vec<Source> {
        [
            ("sales_kafka", "sales", "sales_replay", sales_topic),
            (
                "warehouse_kafka",
                "stock_movements",
                "warehouse_replay",
                warehouse_topic,
            ),
        ]
        .into_iter()
        .map(|(kafka_table, target_table, replay_table, topic)| Source {
            kafka_table: kafka_table.into(),
            target_table: target_table.into(),
            replay_table: replay_table.into(),
            topic: topic.into(),
            group: group_for(topic),
        })
        .collect()
    }
}

use std::collections::BTreeMap;

use clickhouse_http::{quote, template};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse_http::Error),
    #[error(transparent)]
    Kafka(#[from] kafka_admin::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Renders one of this crate's `.sql` files (no feature blocks).
fn sql(name: &str, source: &str, db: &str, extra: &[(&'static str, String)]) -> Result<String> {
    // {{read_db}}: where the checks read rows (the tables, or in cluster mode their
    // Distributed twins); writes go to {{db}}, this server's own tables.
    let mut values = BTreeMap::from([
        ("db", db.to_string()),
        ("db_name", quote(db)),
        ("read_db", db.to_string()),
    ]);
    values.extend(extra.iter().cloned());
    template::render(name, source, &values, &|_| None).map_err(Error::Other)
}

/// Messages on `source.topic` that its group has not committed yet: the group's lag.
pub async fn unconsumed(kafka: &kafka_admin::KafkaSettings, source: &Source) -> Result<i64> {
    Ok(replay::offsets(kafka, source)
        .await?
        .iter()
        .map(|p| p.lag())
        .sum())
}
