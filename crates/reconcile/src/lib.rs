//! The checks every server needs, beside the Kafka engine (run by `pipeline up`):
//!
//! - [`duplicates`]: the Kafka engine delivers at least once; a copy stored twice after a
//!   rebalance or a failed commit is recorded in a ledger whose views take it back out of
//!   the rollups, so every figure counts each event_id once.
//! - [`rollups`]: a block's fan-out cut short (the server killed between two views) leaves
//!   it in some targets and not others, and it is then delivered to all of them again; the
//!   rollups are checked against the raw tables and a difference is written as a correction.
//!   Checked minutes are then sealed into the hour tiers the page reads for long ranges.
//! - [`guards`]: how every loop counts its passes, failures and work, waits for its next
//!   pass and stops.
//! - [`state`]: how far each loop got, kept in `reconcile_state`.
//!
//! ClickHouse 18.16's own guards (the rescue of a stalled Kafka table, the verifier of what
//! the engine committed) are in `crates/clickhouse-18-16`.

pub mod duplicates;
pub mod guards;
pub mod rollups;
pub mod state;

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

use clickhouse_http::template::{self, Values};

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

/// Renders a `.sql` file of the guards over database `db` (no feature blocks).
pub fn sql(name: &str, source: &str, db: &str, extra: Values) -> Result<String> {
    // {{read_db}}: where the checks read rows (the tables, or in cluster mode their
    // Distributed twins); writes go to {{db}}, this server's own tables.
    let mut values = Values::new().ident("db", db).ident("read_db", db);
    values.extend(extra);
    template::render(name, source, &values, &|_| None).map_err(Error::Other)
}

/// The rows of `statement` (a `.sql` file of the guards with its row type) over `db`.
pub async fn rows<R: serde::de::DeserializeOwned>(
    client: &clickhouse_http::Client,
    statement: &template::Statement<R>,
    db: &str,
    extra: Values,
) -> Result<Vec<R>> {
    let q = sql(statement.name, statement.text, db, extra)?;
    Ok(client.query(&q).await?)
}

/// Messages on `source.topic` that its group has not committed yet: the group's lag.
pub async fn unconsumed(kafka: &kafka_admin::KafkaSettings, source: &Source) -> Result<i64> {
    Ok(group_partitions(kafka, source)
        .await?
        .iter()
        .map(|p| p.lag())
        .sum())
}

/// Where `source`'s consumer group stands on each partition of its topic, from the broker.
pub async fn group_partitions(
    kafka: &kafka_admin::KafkaSettings,
    source: &Source,
) -> Result<Vec<kafka_admin::GroupPartition>> {
    let kafka = kafka.clone();
    let s = source.clone();
    tokio::task::spawn_blocking(move || {
        Ok(kafka_admin::group_partitions(
            &kafka,
            &s.group,
            &s.topic,
            std::time::Duration::from_secs(5),
        )?)
    })
    .await
    .map_err(|e| Error::Other(e.to_string()))?
}
