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
mod bookkeeping;
mod cluster;
pub mod dialect;

pub use apply::{
    apply, pause_ingest, paused_ingest, plan_ingest, status, ApplyReport, IngestPlan, IngestState,
    SchemaStatus, Start,
};
pub use clickhouse_http::ServerVersion;
pub use cluster::distributed_database;
pub use dialect::Dialect;

use clickhouse_http::template::{self, Values};
use clickhouse_http::{ident, quote};

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

/// How the Kafka engine authenticates to the brokers (and this program's clients do).
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// plaintext, ssl, sasl_plaintext or sasl_ssl.
    pub protocol: String,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
}

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl KafkaSecurity {
    /// The same, as librdkafka properties (the generator, the checks, the audit).
    pub fn librdkafka_options(&self) -> Vec<(String, String)> {
        let mut o = vec![("security.protocol".to_string(), self.protocol.clone())];
        for (k, v) in [
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
        ] {
            if let Some(v) = v {
                o.push((k.to_string(), v.clone()));
            }
        }
        o
    }

    /// As Kafka table settings (servers with `kafka_sasl_settings`), one per line, each
    /// ending in a comma.
    fn table_settings(&self) -> String {
        let mut lines = vec![format!(
            "    kafka_security_protocol = {},",
            quote(&self.protocol)
        )];
        for (k, v) in [
            ("kafka_sasl_mechanism", &self.sasl_mechanism),
            ("kafka_sasl_username", &self.sasl_username),
            ("kafka_sasl_password", &self.sasl_password),
        ] {
            if let Some(v) = v {
                lines.push(format!("    {k} = {},", quote(v)));
            }
        }
        lines.join("\n")
    }

    /// What to put in the server's config where the engine takes no table settings for it.
    pub fn server_config_snippet(&self) -> String {
        let mut s = format!(
            "<kafka>\n    <security_protocol>{}</security_protocol>\n",
            self.protocol
        );
        if let Some(m) = &self.sasl_mechanism {
            s.push_str(&format!("    <sasl_mechanism>{m}</sasl_mechanism>\n"));
        }
        if let Some(u) = &self.sasl_username {
            s.push_str(&format!("    <sasl_username>{u}</sasl_username>\n"));
        }
        if self.sasl_password.is_some() {
            s.push_str("    <sasl_password>…</sasl_password>\n");
        }
        s.push_str("</kafka>");
        s
    }
}

/// What the schema is rendered from.
#[derive(Debug, Clone)]
pub struct SchemaConfig {
    pub database: String,
    /// The brokers as the ClickHouse server reaches them.
    pub brokers: String,
    pub sales_topic: String,
    pub warehouse_topic: String,
    pub num_consumers: u32,
    /// kafka_max_block_size on servers that flush on time (`kafka_flush_interval_ms`).
    pub max_block_size: u32,
    /// kafka_max_block_size on servers that write a block only when it is full (18.16),
    /// where set: sized for the expected rate, so rows show within a second.
    pub unflushed_block_size: Option<u32>,
    /// Current servers only: one thread per consumer, flushing independently.
    pub thread_per_consumer: bool,
    /// Sharded cluster mode (see `cluster.rs`): the cluster's name in `remote_servers`.
    pub cluster: Option<String>,
    /// Kafka security for the engine; as table settings where the server takes them.
    pub kafka_security: Option<KafkaSecurity>,
    /// The cluster's shards have replicas: every DDL statement goes ON CLUSTER and every
    /// MergeTree table is Replicated (`cluster.rs`). `apply` sets it from the cluster.
    pub replicated: bool,
    /// The profile the server's Kafka engine runs with (`<default_profile>`), checked on
    /// servers whose Kafka tables read raw lines (`clickhouse_18_16::engine_profile`).
    pub engine_profile: String,
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
            unflushed_block_size: None,
            thread_per_consumer: false,
            cluster: None,
            kafka_security: None,
            replicated: false,
            engine_profile: clickhouse_18_16::DEFAULT_ENGINE_PROFILE.into(),
        }
    }

    /// Consumer groups are named after the database, so two databases on one broker never
    /// share (and split) a group.
    pub fn group_for(&self, topic: &str) -> String {
        format!("clickhouse_{}_{}", self.database, topic)
    }

    fn values(&self) -> Result<Values> {
        ident(&self.database).map_err(|e| Error::Invalid(format!("database name: {e}")))?;
        if let Some(c) = &self.cluster {
            ident(c).map_err(|e| Error::Invalid(format!("cluster name: {e}")))?;
        }
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
        if self.num_consumers == 0
            || self.max_block_size == 0
            || self.unflushed_block_size == Some(0)
        {
            return Err(Error::Invalid(
                "consumers and block size must be at least 1".into(),
            ));
        }
        Ok(Values::new()
            .ident("db", &self.database)
            .string("brokers", &self.brokers)
            .string("sales_topic", &self.sales_topic)
            .string("warehouse_topic", &self.warehouse_topic)
            .string("sales_group", self.group_for(&self.sales_topic))
            .string("warehouse_group", self.group_for(&self.warehouse_topic))
            .int("num_consumers", self.num_consumers)
            .int("thread_per_consumer", u8::from(self.thread_per_consumer)))
    }
}

/// A `.sql` file of this crate: its path under `sql/` (how the 18.16 seam finds its own
/// text of the same file) and its current text.
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    pub path: &'static str,
    text: &'static str,
}

macro_rules! sql {
    ($path:literal) => {
        Sql {
            path: $path,
            text: include_str!(concat!("../sql/", $path)),
        }
    };
}

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    source: Sql,
}

/// Every migration, in order. Append only: an applied migration is never edited.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "original_tables",
        source: sql!("migrations/0001_original_tables.sql"),
    },
    Migration {
        version: 2,
        name: "kafka_metadata",
        source: sql!("migrations/0002_kafka_metadata.sql"),
    },
    Migration {
        version: 3,
        name: "minute_rollups",
        source: sql!("migrations/0003_minute_rollups.sql"),
    },
    Migration {
        version: 4,
        name: "dead_letters_and_exact_rollups",
        source: sql!("migrations/0004_dead_letters_and_exact_rollups.sql"),
    },
    Migration {
        version: 5,
        name: "rollup_corrections",
        source: sql!("migrations/0005_rollup_corrections.sql"),
    },
    Migration {
        version: 6,
        name: "hourly_rollups",
        source: sql!("migrations/0006_hourly_rollups.sql"),
    },
    Migration {
        version: 7,
        name: "dead_letter_replays",
        source: sql!("migrations/0007_dead_letter_replays.sql"),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestKind {
    KafkaTable,
    /// A Null table the rescue inserts raw messages into (`*_replay`, 18.16).
    ReplayTable,
    /// A Null table of parsed messages that fans out to the views (`*_parsed`).
    ParsedTable,
    View,
}

#[derive(Clone, Copy)]
pub struct IngestObject {
    pub name: &'static str,
    pub kind: IngestKind,
    /// The table whose inserts feed this object (itself, for a Kafka or replay table): a
    /// view is re-created whenever that table is.
    pub stream: &'static str,
    source: Sql,
    /// What a view reads (its `{{from}}`).
    reads: Reads,
}

/// What a view reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A table by name (a target table, a ledger); or nothing, for a table.
    Table,
    /// A topic's parsed messages: the fan-out, or (18.16) the raw rows of this table.
    Messages { raw: &'static str },
    /// The raw messages of a Kafka table, parsed: the fan-out's one writer.
    Parse { kafka: &'static str },
    /// A rollup of a target table: views cascade, so it reads that table (named in its
    /// file); 18.16's reads the Kafka table's raw rows.
    Rollup { kafka: &'static str },
}

const fn table(name: &'static str, kind: IngestKind, source: Sql) -> IngestObject {
    IngestObject {
        name,
        kind,
        stream: name,
        source,
        reads: Reads::Table,
    }
}

/// A Kafka table's fan-out of parsed messages: part of that topic's chain, re-created with it.
const fn parsed_table(name: &'static str, kafka: &'static str, source: Sql) -> IngestObject {
    let mut t = table(name, IngestKind::ParsedTable, source);
    t.stream = kafka;
    t
}

/// The one view of a Kafka table: parses each message into the fan-out.
const fn parse_view(name: &'static str, kafka: &'static str, source: Sql) -> IngestObject {
    IngestObject {
        name,
        kind: IngestKind::View,
        stream: kafka,
        source,
        reads: Reads::Parse { kafka },
    }
}

/// A view of a topic's parsed messages.
const fn view(name: &'static str, kafka: &'static str, source: Sql) -> IngestObject {
    IngestObject {
        name,
        kind: IngestKind::View,
        stream: kafka,
        source,
        reads: Reads::Messages { raw: kafka },
    }
}

/// A view over a table by name (a rollup over a target table, a ledger's view).
const fn table_view(name: &'static str, stream: &'static str, source: Sql) -> IngestObject {
    IngestObject {
        name,
        kind: IngestKind::View,
        stream,
        source,
        reads: Reads::Table,
    }
}

/// A rollup view of a target table fed from `kafka`.
const fn rollup(
    name: &'static str,
    target: &'static str,
    kafka: &'static str,
    source: Sql,
) -> IngestObject {
    IngestObject {
        name,
        kind: IngestKind::View,
        stream: target,
        source,
        reads: Reads::Rollup { kafka },
    }
}

/// The current schema's ingest objects, in creation order: Kafka tables and their fan-outs,
/// the rollup views (they read the target tables: views cascade), the dead-letter views,
/// the views into the target tables; then each Kafka table's one parse view, so the topic
/// is read only once everything downstream exists; last the ledger views that subtract
/// duplicates and the views that add the rollup check's corrections.
pub const INGEST: &[IngestObject] = &[
    table(
        "sales_kafka",
        IngestKind::KafkaTable,
        sql!("ingest/sales_kafka.sql"),
    ),
    table(
        "warehouse_kafka",
        IngestKind::KafkaTable,
        sql!("ingest/warehouse_kafka.sql"),
    ),
    parsed_table(
        "sales_parsed",
        "sales_kafka",
        sql!("ingest/sales_parsed.sql"),
    ),
    parsed_table(
        "warehouse_parsed",
        "warehouse_kafka",
        sql!("ingest/warehouse_parsed.sql"),
    ),
    rollup(
        "sales_by_minute_mv",
        "sales",
        "sales_kafka",
        sql!("ingest/sales_by_minute_mv.sql"),
    ),
    rollup(
        "stock_by_minute_mv",
        "stock_movements",
        "warehouse_kafka",
        sql!("ingest/stock_by_minute_mv.sql"),
    ),
    rollup(
        "stock_levels_mv",
        "stock_movements",
        "warehouse_kafka",
        sql!("ingest/stock_levels_mv.sql"),
    ),
    view(
        "sales_dead_letter_mv",
        "sales_kafka",
        sql!("ingest/sales_dead_letter_mv.sql"),
    ),
    view(
        "warehouse_dead_letter_mv",
        "warehouse_kafka",
        sql!("ingest/warehouse_dead_letter_mv.sql"),
    ),
    view("sales_mv", "sales_kafka", sql!("ingest/sales_mv.sql")),
    view(
        "stock_movements_mv",
        "warehouse_kafka",
        sql!("ingest/stock_movements_mv.sql"),
    ),
    parse_view(
        "sales_parse_mv",
        "sales_kafka",
        sql!("ingest/sales_parse_mv.sql"),
    ),
    parse_view(
        "warehouse_parse_mv",
        "warehouse_kafka",
        sql!("ingest/warehouse_parse_mv.sql"),
    ),
    table_view(
        "sales_duplicates_mv",
        "sales_duplicates",
        sql!("ingest/sales_duplicates_mv.sql"),
    ),
    table_view(
        "stock_duplicates_by_minute_mv",
        "stock_movements_duplicates",
        sql!("ingest/stock_duplicates_by_minute_mv.sql"),
    ),
    table_view(
        "stock_duplicates_levels_mv",
        "stock_movements_duplicates",
        sql!("ingest/stock_duplicates_levels_mv.sql"),
    ),
    table_view(
        "sales_corrections_mv",
        "sales_by_minute_corrections",
        sql!("ingest/sales_corrections_mv.sql"),
    ),
    table_view(
        "stock_corrections_by_minute_mv",
        "stock_by_minute_corrections",
        sql!("ingest/stock_corrections_by_minute_mv.sql"),
    ),
    table_view(
        "stock_corrections_levels_mv",
        "stock_levels_corrections",
        sql!("ingest/stock_corrections_levels_mv.sql"),
    ),
];

/// The ingest objects of a dialect, in creation order.
pub fn objects(dialect: Dialect) -> Vec<IngestObject> {
    match dialect {
        Dialect::Current => INGEST.to_vec(),
        Dialect::ClickHouse1816 => clickhouse_1816_objects(),
    }
}

/// 18.16's objects: the current ones but those it cannot have, with its own texts where
/// it needs them, and its replay doors, each view right after the view whose file it
/// shares. No cascade: every view of a topic reads that topic's raw rows.
fn clickhouse_1816_objects() -> Vec<IngestObject> {
    use clickhouse_18_16::{NOT_ON_18_16, REPLAY_DOORS};
    let mut out = Vec::new();
    for o in INGEST {
        let mut o = *o;
        if let Reads::Rollup { kafka } = o.reads {
            o = view(o.name, kafka, o.source);
        }
        if !NOT_ON_18_16.iter().any(|(n, _)| *n == o.name) {
            out.push(o);
        }
        for door in &REPLAY_DOORS {
            if o.name == door.kafka_table {
                out.push(table(
                    door.table,
                    IngestKind::ReplayTable,
                    Sql {
                        path: "",
                        text: door.ddl,
                    },
                ));
            }
            for (name, path) in door.views {
                if *path == o.source.path {
                    out.push(view(name, door.table, o.source));
                }
            }
        }
    }
    out
}

/// The parse fragments a view's `{{from}}` is built from (`sql/ingest/parse/`).
mod parse {
    use super::Sql;
    pub const SALES: Sql = sql!("ingest/parse/sales.sql");
    pub const WAREHOUSE: Sql = sql!("ingest/parse/warehouse.sql");
    pub const MESSAGE_JSON: Sql = sql!("ingest/parse/message_json.sql");
    pub const SALES_JSON: Sql = sql!("ingest/parse/sales_json.sql");
    pub const WAREHOUSE_JSON: Sql = sql!("ingest/parse/warehouse_json.sql");
    pub const METADATA_KAFKA: Sql = sql!("ingest/parse/metadata_kafka.sql");
    pub const EVENT_TIME: Sql = sql!("ingest/parse/event_time.sql");
}

const STATE: Sql = sql!("bookkeeping/tables.sql");

/// Every ingest object either dialect has (to drop what this server does not get).
pub fn every_object() -> Vec<(&'static str, IngestKind)> {
    let mut all: Vec<_> = [Dialect::Current, Dialect::ClickHouse1816]
        .into_iter()
        .flat_map(objects)
        .map(|o| (o.name, o.kind))
        .collect();
    all.sort_by_key(|(n, _)| *n);
    all.dedup();
    all
}

/// Statements rendered for one server version.
pub struct Rendered {
    pub state: Vec<String>,
    pub migrations: Vec<(u32, &'static str, Vec<String>)>,
    pub ingest: Vec<(&'static str, IngestKind, String)>,
    /// Per Kafka table, the statement that closes its gate (18.16 only).
    pub gates: Vec<(&'static str, String)>,
    pub dialect: Dialect,
}

impl Rendered {
    /// The table whose inserts feed ingest object `name` on this server.
    pub fn stream_of(&self, name: &str) -> Option<&'static str> {
        objects(self.dialect)
            .into_iter()
            .find(|o| o.name == name)
            .map(|o| o.stream)
    }
}

pub fn render(config: &SchemaConfig, version: ServerVersion) -> Result<Rendered> {
    let dialect = Dialect::for_version(version)?;
    let mut values = config.values()?;
    values = values.sql(
        "kafka_security",
        match &config.kafka_security {
            Some(k) if dialect::takes_kafka_security_settings(version) => k.table_settings(),
            _ => String::new(),
        },
    );
    values = values.int(
        "max_block_size",
        match dialect {
            Dialect::Current => config.max_block_size,
            // Writes a block only when it is full: sized for the expected rate.
            Dialect::ClickHouse1816 => config.unflushed_block_size.unwrap_or(config.max_block_size),
        },
    );
    let r = |sql: Sql, v: &Values| {
        template::render(sql.path, dialect.text(sql), v, &|_| None).map_err(Error::Template)
    };
    let mut ingest = Vec::new();
    for o in objects(dialect) {
        let (with, from) = reads(o.reads, config, &values, dialect)?;
        let v = values
            .clone()
            .ident("name", o.name)
            .sql("with", with)
            .sql("from", from);
        let mut s = template::statements(&r(o.source, &v)?);
        if s.len() != 1 {
            return Err(Error::Template(format!(
                "{} must hold one statement",
                o.name
            )));
        }
        ingest.push((o.name, o.kind, s.remove(0)));
    }
    let gates = match dialect {
        Dialect::Current => Vec::new(),
        Dialect::ClickHouse1816 => INGEST
            .iter()
            .filter(|o| o.kind == IngestKind::KafkaTable)
            .map(|o| {
                let v = values.clone().ident("kafka_table", o.name);
                let sql = template::render("gate.sql", clickhouse_18_16::GATE, &v, &|_| None)
                    .map_err(Error::Template)?;
                Ok((o.name, template::statements(&sql).remove(0)))
            })
            .collect::<Result<_>>()?,
    };
    Ok(Rendered {
        state: template::statements(&r(STATE, &values)?),
        migrations: MIGRATIONS
            .iter()
            .map(|m| {
                Ok((
                    m.version,
                    m.name,
                    template::statements(&r(m.source, &values)?),
                ))
            })
            .collect::<Result<_>>()?,
        ingest,
        gates,
        dialect,
    }
    .for_cluster(config))
}

impl Rendered {
    /// On a cluster with replicas: every statement ON CLUSTER, every table Replicated.
    fn for_cluster(mut self, config: &SchemaConfig) -> Self {
        let Some(cluster) = config.cluster.as_deref().filter(|_| config.replicated) else {
            return self;
        };
        let fix = |s: &mut String| *s = cluster::replicated(&cluster::on_cluster(s, cluster));
        self.state.iter_mut().for_each(fix);
        for (_, _, stmts) in &mut self.migrations {
            stmts.iter_mut().for_each(fix);
        }
        for (_, _, s) in &mut self.ingest {
            fix(s);
        }
        for (_, s) in &mut self.gates {
            fix(s);
        }
        self
    }
}

/// What a view reads, as `{{with}}` and `{{from}}`: the topic's fields, parsed and checked
/// against the contract (`reject_reason`).
/// - Current servers: the Kafka table's parse view reads the whole message with JSON
///   functions in subqueries; every other view of the topic reads the parsed fan-out.
/// - 18.16: every view parses the raw line itself, in one flat WITH list over its table
///   (18.16 runs a view over its outermost FROM only, and does not cascade).
fn reads(
    reads: Reads,
    config: &SchemaConfig,
    values: &Values,
    dialect: Dialect,
) -> Result<(String, String)> {
    let db = &config.database;
    let config_topics = (&config.sales_topic, &config.warehouse_topic);
    let (raw, parses) = match reads {
        Reads::Table | Reads::Rollup { .. } => return Ok((String::new(), String::new())),
        Reads::Messages { raw } => (raw, false),
        Reads::Parse { kafka } => (kafka, true),
    };
    // sales_kafka, sales_replay; warehouse_kafka, warehouse_replay.
    let sales = raw.starts_with("sales_");
    if dialect == Dialect::Current && !parses {
        let fanout = if sales {
            "sales_parsed"
        } else {
            "warehouse_parsed"
        };
        return Ok((String::new(), format!("{db}.{fanout}")));
    }
    let v = values.clone().ident("source", raw);
    let topic = if sales {
        &config_topics.0
    } else {
        &config_topics.1
    };
    let mut v = v.string("topic", topic.as_str());
    let render = |name: &str, src: &str, v: &Values| {
        template::render(name, src, v, &|_| None)
            .map(|s| strip_comments(&s))
            .map_err(Error::Template)
    };
    let fragment = |sql: Sql, v: &Values| render(sql.path, dialect.text(sql), v);
    let replay = raw.ends_with("_replay");
    let metadata = if replay {
        render(
            "parse/metadata_replay.sql",
            clickhouse_18_16::parse::METADATA_REPLAY,
            &v,
        )?
    } else {
        fragment(parse::METADATA_KAFKA, &v)?
    };
    v = v.sql("metadata", metadata.clone());
    let event_time = fragment(parse::EVENT_TIME, &v)?;
    v = v.sql("event_time", event_time);
    let pick = |s: Sql, w: Sql| if sales { s } else { w };
    let checks = fragment(pick(parse::SALES, parse::WAREHOUSE), &v)?;
    match dialect {
        Dialect::Current => {
            let message = fragment(parse::MESSAGE_JSON, &v)?;
            v = v.sql("message", message);
            let fields = fragment(pick(parse::SALES_JSON, parse::WAREHOUSE_JSON), &v)?;
            Ok((
                String::new(),
                format!("(SELECT *,\n{checks}\nFROM ({fields}))"),
            ))
        }
        Dialect::ClickHouse1816 => {
            use clickhouse_18_16::parse::{SALES_RAW, WAREHOUSE_RAW};
            let (name, text) = if sales {
                ("parse/sales_raw.sql", SALES_RAW)
            } else {
                ("parse/warehouse_raw.sql", WAREHOUSE_RAW)
            };
            let fields = render(name, text, &v)?;
            let with: Vec<&str> = [metadata.as_str(), fields.as_str(), checks.as_str()]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect();
            Ok((format!("WITH\n{}", with.join(",\n")), format!("{db}.{raw}")))
        }
    }
}

/// A fragment's own comment lines stay in its file; the rendered view keeps only SQL.
fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// The whole DDL for a version as one script (what `pipeline schema print` shows).
pub fn script(config: &SchemaConfig, version: ServerVersion) -> Result<String> {
    // Printed for people: the SASL password never shows.
    let mut shown = config.clone();
    if let Some(k) = shown.kafka_security.as_mut() {
        if k.sasl_password.is_some() {
            k.sasl_password = Some("[HIDDEN]".into());
        }
    }
    let config = &shown;
    let r = render(config, version)?;
    let create_db = bookkeeping::create_database(&config.database)?;
    let create_db = match config.cluster.as_deref().filter(|_| config.replicated) {
        Some(c) => cluster::on_cluster(&create_db, c),
        None => create_db,
    };
    let mut out = format!(
        "-- Schema for ClickHouse {version} (database {db}).\n-- Dialect: {dialect}\n\n\
         {create_db};\n\n",
        db = config.database,
        dialect = r.dialect
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

/// A short, stable fingerprint of a statement (FNV-1a; not for security), as recorded in
/// `schema_ingest`.
pub fn checksum(text: &str) -> String {
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
        assert!(old.contains("toInt32(-1) AS message_partition"));
        assert!(
            old.contains("kafka_format = 'CSV'"),
            "18.16 reads raw lines"
        );
        assert!(
            old.contains("FROM shop.sales_kafka\nWHERE reject_reason = ''\nGROUP BY minute"),
            "18.16 rollups read the stream"
        );
        assert!(new.contains("kafka_handle_error_mode = 'stream'"));
        assert!(
            !new.contains("sales_replay_by_minute_mv"),
            "cascade needs no replay rollup"
        );
        assert!(
            new.contains("FROM shop.sales\nGROUP BY minute"),
            "current servers cascade"
        );
        assert!(!old.contains("kafka_flush_interval_ms"));
        assert!(new.contains("toInt32(_partition) AS message_partition"));
        assert!(new.contains("kafka_flush_interval_ms = 500"));
        assert!(new.contains("kafka_group_name = 'clickhouse_shop_sales'"));
        assert!(!new.contains("{{"));
        assert!(
            script(&cfg, "18.1".parse().unwrap()).is_err(),
            "older than supported"
        );
    }

    #[test]
    fn clickhouse_18_16_gets_its_replay_doors_and_no_fan_out() {
        let names = |d| {
            let mut n: Vec<_> = objects(d).iter().map(|o| o.name).collect();
            n.sort();
            n
        };
        assert_eq!(
            names(Dialect::ClickHouse1816),
            [
                "sales_by_minute_mv",
                "sales_corrections_mv",
                "sales_duplicates_mv",
                "sales_kafka",
                "sales_mv",
                "sales_replay",
                "sales_replay_by_minute_mv",
                "sales_replay_dead_letter_mv",
                "sales_replay_mv",
                "stock_by_minute_mv",
                "stock_corrections_by_minute_mv",
                "stock_corrections_levels_mv",
                "stock_duplicates_by_minute_mv",
                "stock_duplicates_levels_mv",
                "stock_levels_mv",
                "stock_movements_mv",
                "stock_movements_replay_mv",
                "stock_replay_by_minute_mv",
                "stock_replay_levels_mv",
                "warehouse_kafka",
                "warehouse_replay",
                "warehouse_replay_dead_letter_mv",
            ]
        );
        // Every object of either dialect is rendered from a file of its own dialect.
        for d in [Dialect::Current, Dialect::ClickHouse1816] {
            let r = render(
                &SchemaConfig::new("shop", "k:9092"),
                match d {
                    Dialect::Current => "25.8".parse().unwrap(),
                    Dialect::ClickHouse1816 => "18.16.1".parse().unwrap(),
                },
            )
            .unwrap();
            assert_eq!(r.ingest.len(), objects(d).len());
            let replay = r.ingest.iter().any(|(n, _, _)| n.contains("replay"));
            assert_eq!(replay, d == Dialect::ClickHouse1816, "{d}");
        }
    }

    #[test]
    fn current_servers_read_messages_whole_and_need_no_18_16_objects() {
        let mut cfg = SchemaConfig::new("shop", "kafka:9092");
        cfg.unflushed_block_size = Some(10);
        let new = script(&cfg, "25.8".parse().unwrap()).unwrap();
        assert!(new.contains("kafka_format = 'RawBLOB'"), "{new}");
        for absent in [
            "visitParam",
            "sales_replay",
            "warehouse_replay",
            "_gate",
            "CSV",
        ] {
            assert!(!new.contains(absent), "{absent} in the 25.8 DDL");
        }
        // Flushes on time: the block size does not follow the rate.
        assert!(new.contains("kafka_max_block_size = 65536;"), "{new}");
        let old = script(&cfg, "18.16.1".parse().unwrap()).unwrap();
        assert!(old.contains("kafka_max_block_size = 10;"), "{old}");
        // Exactly one view reads each Kafka table on current servers.
        let r = render(&cfg, "25.8".parse().unwrap()).unwrap();
        for kafka in ["shop.sales_kafka", "shop.warehouse_kafka"] {
            let readers: Vec<_> = r
                .ingest
                .iter()
                .filter(|(_, k, sql)| {
                    *k == IngestKind::View && sql.contains(&format!("FROM {kafka}\n"))
                })
                .map(|(n, _, _)| *n)
                .collect();
            assert_eq!(readers.len(), 1, "{kafka}: {readers:?}");
        }
    }

    #[test]
    fn kafka_security_goes_into_table_settings_where_the_server_takes_them() {
        let mut cfg = SchemaConfig::new("shop", "k:9092");
        cfg.kafka_security = Some(KafkaSecurity {
            protocol: "sasl_ssl".into(),
            sasl_mechanism: Some("PLAIN".into()),
            sasl_username: Some("u'x".into()),
            sasl_password: Some("p".into()),
        });
        let kafka_ddl = |version: &str| {
            let r = render(&cfg, version.parse().unwrap()).unwrap();
            r.ingest
                .into_iter()
                .find(|(n, _, _)| *n == "sales_kafka")
                .unwrap()
                .2
        };
        let kafka = kafka_ddl("25.8");
        assert!(
            kafka.contains("kafka_security_protocol = 'sasl_ssl',"),
            "{kafka}"
        );
        assert!(kafka.contains("kafka_sasl_username = 'u\\'x',"), "{kafka}");
        assert!(kafka.contains("kafka_sasl_password = 'p',"), "{kafka}");
        let kafka = kafka_ddl("18.16.1");
        assert!(
            !kafka.contains("kafka_sasl"),
            "18.16 reads it from its config: {kafka}"
        );
        let printed = script(&cfg, "25.8".parse().unwrap()).unwrap();
        assert!(printed.contains("kafka_sasl_password = '[HIDDEN]'"));
        assert!(!format!("{:?}", cfg.kafka_security).contains("\"p\""));
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
