//! The ClickHouse side of the flow: the tables rows land in, and the Kafka engine tables and
//! materialized views that move them there. All SQL lives in `sql/`; this crate renders it
//! for the server's version and applies it idempotently.
//!
//! Two kinds of objects:
//! - **migrations** (`sql/migrations/NNNN_*.sql`) change tables that hold data. Each runs
//!   once, in order, and is recorded in `schema_migrations`; none ever drops data.
//! - **ingest objects** (`sql/ingest/*.sql`: Kafka tables and their views) hold no data (the
//!   consumer group's offsets live in the broker). They are re-created whenever their
//!   rendered DDL changes, e.g. a new broker address.

mod apply;
mod features;

pub use apply::{apply, status, ApplyReport, IngestState, SchemaStatus};
pub use clickhouse_http::ServerVersion;
pub use features::Features;

use std::collections::BTreeMap;

use clickhouse_http::{ident, quote, template};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse_http::Error),
    #[error("schema template: {0}")]
    Template(String),
    #[error("{0}")]
    Invalid(String),
    #[error("migration {version} ({name}) failed at statement {statement}: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        statement: usize,
        #[source]
        source: clickhouse_http::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// What the schema is rendered from.
#[derive(Debug, Clone)]
pub struct SchemaConfig {
    pub database: String,
    /// The brokers as the ClickHouse server reaches them.
    pub brokers: String,
    pub sales_topic: String,
    pub warehouse_topic: String,
    pub num_consumers: u32,
    pub max_block_size: u32,
    /// Current servers only: one thread per consumer, flushing independently.
    pub thread_per_consumer: bool,
}

impl SchemaConfig {
    pub fn new(database: &str, brokers: &str) -> Self {
        SchemaConfig {
            database: database.to_string(),
            brokers: brokers.to_string(),
            sales_topic: "sales".into(),
            warehouse_topic: "warehouse".into(),
            num_consumers: 1,
            max_block_size: 65_536,
            thread_per_consumer: false,
        }
    }

    /// Consumer groups are named after the database, so two databases on one broker never
    /// share (and split) a group.
    pub fn group_for(&self, topic: &str) -> String {
        format!("clickhouse_{}_{}", self.database, topic)
    }

    fn values(&self) -> Result<BTreeMap<&'static str, String>> {
        ident(&self.database).map_err(|e| Error::Invalid(format!("database name: {e}")))?;
        for t in [&self.sales_topic, &self.warehouse_topic] {
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(Error::Invalid(format!(
                    "topic {t:?}: Kafka topic names use letters, digits, '.', '_' and '-'"
                )));
            }
        }
        if self.num_consumers == 0 || self.max_block_size == 0 {
            return Err(Error::Invalid(
                "consumers and block size must be at least 1".into(),
            ));
        }
        Ok(BTreeMap::from([
            ("db", self.database.clone()),
            ("brokers", quote(&self.brokers)),
            ("sales_topic", quote(&self.sales_topic)),
            ("warehouse_topic", quote(&self.warehouse_topic)),
            ("sales_group", quote(&self.group_for(&self.sales_topic))),
            (
                "warehouse_group",
                quote(&self.group_for(&self.warehouse_topic)),
            ),
            ("num_consumers", self.num_consumers.to_string()),
            ("max_block_size", self.max_block_size.to_string()),
            (
                "thread_per_consumer",
                u8::from(self.thread_per_consumer).to_string(),
            ),
        ]))
    }
}

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    source: &'static str,
}

/// Every migration, in order. Append only: an applied migration is never edited.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "original_tables",
        source: include_str!("../sql/migrations/0001_original_tables.sql"),
    },
    Migration {
        version: 2,
        name: "kafka_metadata",
        source: include_str!("../sql/migrations/0002_kafka_metadata.sql"),
    },
    Migration {
        version: 3,
        name: "minute_rollups",
        source: include_str!("../sql/migrations/0003_minute_rollups.sql"),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestKind {
    KafkaTable,
    View,
}

pub struct IngestObject {
    pub name: &'static str,
    pub kind: IngestKind,
    /// The Kafka table whose stream feeds this object (itself, for a Kafka table): a view is
    /// re-created whenever that table is.
    pub stream: &'static str,
    source: &'static str,
}

/// In creation order: Kafka tables, then the rollup views, then the views into the target
/// tables, so that where views cascade every rollup exists before rows reach its source.
pub const INGEST: &[IngestObject] = &[
    IngestObject {
        name: "sales_kafka",
        kind: IngestKind::KafkaTable,
        stream: "sales_kafka",
        source: include_str!("../sql/ingest/sales_kafka.sql"),
    },
    IngestObject {
        name: "warehouse_kafka",
        kind: IngestKind::KafkaTable,
        stream: "warehouse_kafka",
        source: include_str!("../sql/ingest/warehouse_kafka.sql"),
    },
    IngestObject {
        name: "sales_by_minute_mv",
        kind: IngestKind::View,
        stream: "sales_kafka",
        source: include_str!("../sql/ingest/sales_by_minute_mv.sql"),
    },
    IngestObject {
        name: "stock_by_minute_mv",
        kind: IngestKind::View,
        stream: "warehouse_kafka",
        source: include_str!("../sql/ingest/stock_by_minute_mv.sql"),
    },
    IngestObject {
        name: "stock_levels_mv",
        kind: IngestKind::View,
        stream: "warehouse_kafka",
        source: include_str!("../sql/ingest/stock_levels_mv.sql"),
    },
    IngestObject {
        name: "sales_mv",
        kind: IngestKind::View,
        stream: "sales_kafka",
        source: include_str!("../sql/ingest/sales_mv.sql"),
    },
    IngestObject {
        name: "stock_movements_mv",
        kind: IngestKind::View,
        stream: "warehouse_kafka",
        source: include_str!("../sql/ingest/stock_movements_mv.sql"),
    },
];

const GATE: &str = include_str!("../sql/ingest/gate.sql");

const STATE: &str = include_str!("../sql/schema_state.sql");

/// The Kafka table that feeds `name`.
pub fn stream_of(name: &str) -> Option<&'static str> {
    INGEST.iter().find(|o| o.name == name).map(|o| o.stream)
}

/// Statements rendered for one server version.
pub struct Rendered {
    pub state: Vec<String>,
    pub migrations: Vec<(u32, &'static str, Vec<String>)>,
    pub ingest: Vec<(&'static str, IngestKind, String)>,
    /// Per Kafka table, the statement that closes its gate; empty where views cascade.
    pub gates: Vec<(&'static str, String)>,
    pub features: Features,
}

pub fn render(config: &SchemaConfig, version: ServerVersion) -> Result<Rendered> {
    let features = Features::for_version(version)?;
    let values = config.values()?;
    let flag = |name: &str| features.get(name);
    let r = |name: &str, src: &str| {
        template::render(name, src, &values, &flag).map_err(Error::Template)
    };
    Ok(Rendered {
        state: template::statements(&r("schema_state.sql", STATE)?),
        migrations: MIGRATIONS
            .iter()
            .map(|m| {
                Ok((
                    m.version,
                    m.name,
                    template::statements(&r(m.name, m.source)?),
                ))
            })
            .collect::<Result<_>>()?,
        ingest: INGEST
            .iter()
            .map(|o| {
                let mut s = template::statements(&r(o.name, o.source)?);
                if s.len() != 1 {
                    return Err(Error::Template(format!(
                        "{} must hold one statement",
                        o.name
                    )));
                }
                Ok((o.name, o.kind, s.remove(0)))
            })
            .collect::<Result<_>>()?,
        gates: if features.cascading_views {
            Vec::new()
        } else {
            INGEST
                .iter()
                .filter(|o| o.kind == IngestKind::KafkaTable)
                .map(|o| {
                    let mut v = values.clone();
                    v.insert("kafka_table", o.name.to_string());
                    let sql =
                        template::render("gate.sql", GATE, &v, &flag).map_err(Error::Template)?;
                    Ok((o.name, template::statements(&sql).remove(0)))
                })
                .collect::<Result<_>>()?
        },
        features,
    })
}

/// The whole DDL for a version as one script (what `pipeline schema print` shows).
pub fn script(config: &SchemaConfig, version: ServerVersion) -> Result<String> {
    let r = render(config, version)?;
    let features = Features::for_version(version)?;
    let mut out = format!(
        "-- Schema for ClickHouse {version} (database {db}).\n-- Features: {features}\n\n\
         CREATE DATABASE IF NOT EXISTS {db};\n\n",
        db = config.database
    );
    for s in &r.state {
        out.push_str(&format!("{s};\n\n"));
    }
    for (v, name, stmts) in &r.migrations {
        out.push_str(&format!("-- migration {v}: {name}\n"));
        for s in stmts {
            out.push_str(&format!("{s};\n\n"));
        }
    }
    for (name, _, s) in &r.ingest {
        out.push_str(&format!("-- ingest object {name}\n{s};\n\n"));
    }
    Ok(out)
}

/// A short, stable fingerprint of a statement (FNV-1a; not for security).
pub(crate) fn checksum(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_for_old_and_new_servers() {
        let cfg = SchemaConfig::new("shop", "kafka:9092");
        let old = script(&cfg, "18.16.1".parse().unwrap()).unwrap();
        let new = script(&cfg, "25.8".parse().unwrap()).unwrap();
        assert!(old.contains("toInt32(-1) AS kafka_partition"));
        assert!(
            old.contains("FROM shop.sales_kafka\nGROUP BY minute"),
            "18.16 rollups read the stream"
        );
        assert!(
            new.contains("FROM shop.sales\nGROUP BY minute"),
            "current servers cascade"
        );
        assert!(!old.contains("kafka_flush_interval_ms"));
        assert!(new.contains("toInt32(_partition) AS kafka_partition"));
        assert!(new.contains("kafka_flush_interval_ms = 500"));
        assert!(new.contains("kafka_group_name = 'clickhouse_shop_sales'"));
        assert!(!new.contains("{{"));
        assert!(
            script(&cfg, "18.1".parse().unwrap()).is_err(),
            "older than supported"
        );
    }

    #[test]
    fn rejects_hostile_names() {
        let mut cfg = SchemaConfig::new("shop; DROP TABLE x", "k:9092");
        assert!(script(&cfg, "25.8".parse().unwrap()).is_err());
        cfg.database = "shop".into();
        cfg.sales_topic = "sales'".into();
        assert!(script(&cfg, "25.8".parse().unwrap()).is_err());
        cfg.sales_topic = "sales".into();
        cfg.brokers = "k:9092' , x='".into();
        let s = script(&cfg, "25.8".parse().unwrap()).unwrap();
        assert!(
            s.contains(r"'k:9092\' , x=\''"),
            "broker list is quoted as one literal"
        );
    }
}
