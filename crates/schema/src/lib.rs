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
mod cluster;
mod engine_profile;
mod features;

pub use apply::{
    apply, pause_ingest, paused_ingest, plan_ingest, status, ApplyReport, IngestPlan, IngestState,
    SchemaStatus, Start,
};
pub use clickhouse_http::ServerVersion;
pub use cluster::distributed_database;
pub use engine_profile::{
    engine_profile_mismatches, engine_profile_problem, require_engine_profile, Mismatch,
    DEFAULT_ENGINE_PROFILE,
};
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
    /// servers whose Kafka tables read raw lines (`engine_profile.rs`).
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
            engine_profile: DEFAULT_ENGINE_PROFILE.into(),
        }
    }

    /// Consumer groups are named after the database, so two databases on one broker never
    /// share (and split) a group.
    pub fn group_for(&self, topic: &str) -> String {
        format!("clickhouse_{}_{}", self.database, topic)
    }

    fn values(&self) -> Result<BTreeMap<&'static str, String>> {
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
    Migration {
        version: 4,
        name: "dead_letters_and_exact_rollups",
        source: include_str!("../sql/migrations/0004_dead_letters_and_exact_rollups.sql"),
    },
    Migration {
        version: 5,
        name: "rollup_corrections",
        source: include_str!("../sql/migrations/0005_rollup_corrections.sql"),
    },
    Migration {
        version: 6,
        name: "hourly_rollups",
        source: include_str!("../sql/migrations/0006_hourly_rollups.sql"),
    },
    Migration {
        version: 7,
        name: "dead_letter_replays",
        source: include_str!("../sql/migrations/0007_dead_letter_replays.sql"),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestKind {
    KafkaTable,
    /// A Null table the rescue inserts raw messages into (`*_replay`, 18.16).
    ReplayTable,
    /// A Null table of parsed messages that fans out to the views (`*_parsed`, current
    /// servers).
    ParsedTable,
    View,
}

/// What a view parses: the `{{parsed}}` it is rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    SalesKafka,
    SalesReplay,
    WarehouseKafka,
    WarehouseReplay,
}

impl Input {
    const fn table(self) -> &'static str {
        match self {
            Input::SalesKafka => "sales_kafka",
            Input::SalesReplay => "sales_replay",
            Input::WarehouseKafka => "warehouse_kafka",
            Input::WarehouseReplay => "warehouse_replay",
        }
    }
    const fn is_sales(self) -> bool {
        matches!(self, Input::SalesKafka | Input::SalesReplay)
    }
    const fn is_replay(self) -> bool {
        matches!(self, Input::SalesReplay | Input::WarehouseReplay)
    }
}

pub struct IngestObject {
    pub name: &'static str,
    pub kind: IngestKind,
    /// The table whose inserts feed this object (itself, for a Kafka or replay table): a
    /// view is re-created whenever that table is.
    pub stream: &'static str,
    source: &'static str,
    /// For views over a Kafka or replay table: which one they parse.
    input: Option<Input>,
    /// The view that parses a Kafka table into its `*_parsed` fan-out (current servers):
    /// the other views of that topic read the fan-out.
    parses: bool,
    /// Only where this feature flag has this value.
    only_if: Option<(&'static str, bool)>,
}

const fn table(name: &'static str, kind: IngestKind, source: &'static str) -> IngestObject {
    IngestObject {
        name,
        kind,
        stream: name,
        source,
        input: None,
        parses: false,
        only_if: None,
    }
}

/// A Null table of the 18.16 rescue's replay door (`crates/reconcile/src/replay.rs`).
const fn replay_table(name: &'static str, source: &'static str) -> IngestObject {
    let mut t = table(name, IngestKind::ReplayTable, source);
    t.only_if = Some(("kafka_error_stream", false));
    t
}

/// A Kafka table's fan-out of parsed messages (current servers): part of that topic's
/// chain, re-created with it.
const fn parsed_table(name: &'static str, kafka: Input, source: &'static str) -> IngestObject {
    let mut t = table(name, IngestKind::ParsedTable, source);
    t.stream = kafka.table();
    t.only_if = Some(("kafka_error_stream", true));
    t
}

/// The one view of a Kafka table on current servers: parses each message into the fan-out.
const fn parse_view(name: &'static str, kafka: Input, source: &'static str) -> IngestObject {
    let mut v = view(name, kafka, source);
    v.parses = true;
    v.only_if = Some(("kafka_error_stream", true));
    v
}

const fn view(name: &'static str, input: Input, source: &'static str) -> IngestObject {
    IngestObject {
        name,
        kind: IngestKind::View,
        stream: input.table(),
        source,
        input: Some(input),
        parses: false,
        only_if: if input.is_replay() {
            Some(("kafka_error_stream", false))
        } else {
            None
        },
    }
}

/// A rollup view: where views cascade it reads the target table, so one per source is
/// enough; elsewhere the replay table needs its own.
const fn rollup(name: &'static str, input: Input, source: &'static str) -> IngestObject {
    let mut v = view(name, input, source);
    if input.is_replay() {
        v.only_if = Some(("cascading_views", false));
    }
    v
}

/// A dead-letter view over a Kafka table: only where the engine hands over bad messages
/// with their offsets (the error stream mode). Elsewhere the verifier replays every message
/// that landed nowhere through the replay table's views, offset and raw bytes exact
/// (crates/reconcile/src/verify.rs), so a view here would dead-letter it twice.
const fn stream_dead_letters(
    name: &'static str,
    input: Input,
    source: &'static str,
) -> IngestObject {
    let mut v = view(name, input, source);
    v.only_if = Some(("kafka_error_stream", true));
    v
}

const fn ledger_view(
    name: &'static str,
    ledger: &'static str,
    source: &'static str,
) -> IngestObject {
    IngestObject {
        name,
        kind: IngestKind::View,
        stream: ledger,
        source,
        input: None,
        parses: false,
        only_if: None,
    }
}

const SALES_MV: &str = include_str!("../sql/ingest/sales_mv.sql");
const STOCK_MOVEMENTS_MV: &str = include_str!("../sql/ingest/stock_movements_mv.sql");
const SALES_BY_MINUTE_MV: &str = include_str!("../sql/ingest/sales_by_minute_mv.sql");
const STOCK_BY_MINUTE_MV: &str = include_str!("../sql/ingest/stock_by_minute_mv.sql");
const STOCK_LEVELS_MV: &str = include_str!("../sql/ingest/stock_levels_mv.sql");
const SALES_DEAD_LETTER_MV: &str = include_str!("../sql/ingest/sales_dead_letter_mv.sql");
const WAREHOUSE_DEAD_LETTER_MV: &str = include_str!("../sql/ingest/warehouse_dead_letter_mv.sql");

/// In creation order: Kafka, replay and fan-out tables, the rollup views, the dead-letter
/// views, then the views into the target tables, so that where views cascade every rollup
/// exists before rows reach its source; then (current servers) each Kafka table's one view
/// into its fan-out, so the topic is read only once everything downstream exists; last the
/// ledger views that subtract duplicates and the views that add the rollup check's
/// corrections.
pub const INGEST: &[IngestObject] = &[
    table(
        "sales_kafka",
        IngestKind::KafkaTable,
        include_str!("../sql/ingest/sales_kafka.sql"),
    ),
    table(
        "warehouse_kafka",
        IngestKind::KafkaTable,
        include_str!("../sql/ingest/warehouse_kafka.sql"),
    ),
    replay_table(
        "sales_replay",
        include_str!("../sql/ingest/sales_replay.sql"),
    ),
    replay_table(
        "warehouse_replay",
        include_str!("../sql/ingest/warehouse_replay.sql"),
    ),
    parsed_table(
        "sales_parsed",
        Input::SalesKafka,
        include_str!("../sql/ingest/sales_parsed.sql"),
    ),
    parsed_table(
        "warehouse_parsed",
        Input::WarehouseKafka,
        include_str!("../sql/ingest/warehouse_parsed.sql"),
    ),
    rollup("sales_by_minute_mv", Input::SalesKafka, SALES_BY_MINUTE_MV),
    rollup(
        "sales_replay_by_minute_mv",
        Input::SalesReplay,
        SALES_BY_MINUTE_MV,
    ),
    rollup(
        "stock_by_minute_mv",
        Input::WarehouseKafka,
        STOCK_BY_MINUTE_MV,
    ),
    rollup(
        "stock_replay_by_minute_mv",
        Input::WarehouseReplay,
        STOCK_BY_MINUTE_MV,
    ),
    rollup("stock_levels_mv", Input::WarehouseKafka, STOCK_LEVELS_MV),
    rollup(
        "stock_replay_levels_mv",
        Input::WarehouseReplay,
        STOCK_LEVELS_MV,
    ),
    stream_dead_letters(
        "sales_dead_letter_mv",
        Input::SalesKafka,
        SALES_DEAD_LETTER_MV,
    ),
    view(
        "sales_replay_dead_letter_mv",
        Input::SalesReplay,
        SALES_DEAD_LETTER_MV,
    ),
    stream_dead_letters(
        "warehouse_dead_letter_mv",
        Input::WarehouseKafka,
        WAREHOUSE_DEAD_LETTER_MV,
    ),
    view(
        "warehouse_replay_dead_letter_mv",
        Input::WarehouseReplay,
        WAREHOUSE_DEAD_LETTER_MV,
    ),
    view("sales_mv", Input::SalesKafka, SALES_MV),
    view("sales_replay_mv", Input::SalesReplay, SALES_MV),
    view(
        "stock_movements_mv",
        Input::WarehouseKafka,
        STOCK_MOVEMENTS_MV,
    ),
    view(
        "stock_movements_replay_mv",
        Input::WarehouseReplay,
        STOCK_MOVEMENTS_MV,
    ),
    parse_view(
        "sales_parse_mv",
        Input::SalesKafka,
        include_str!("../sql/ingest/sales_parse_mv.sql"),
    ),
    parse_view(
        "warehouse_parse_mv",
        Input::WarehouseKafka,
        include_str!("../sql/ingest/warehouse_parse_mv.sql"),
    ),
    ledger_view(
        "sales_duplicates_mv",
        "sales_duplicates",
        include_str!("../sql/ingest/sales_duplicates_mv.sql"),
    ),
    ledger_view(
        "stock_duplicates_by_minute_mv",
        "stock_movements_duplicates",
        include_str!("../sql/ingest/stock_duplicates_by_minute_mv.sql"),
    ),
    ledger_view(
        "stock_duplicates_levels_mv",
        "stock_movements_duplicates",
        include_str!("../sql/ingest/stock_duplicates_levels_mv.sql"),
    ),
    ledger_view(
        "sales_corrections_mv",
        "sales_by_minute_corrections",
        include_str!("../sql/ingest/sales_corrections_mv.sql"),
    ),
    ledger_view(
        "stock_corrections_by_minute_mv",
        "stock_by_minute_corrections",
        include_str!("../sql/ingest/stock_corrections_by_minute_mv.sql"),
    ),
    ledger_view(
        "stock_corrections_levels_mv",
        "stock_levels_corrections",
        include_str!("../sql/ingest/stock_corrections_levels_mv.sql"),
    ),
];

/// The parse fragments a view's `{{parsed}}` is built from (`sql/ingest/parse/`).
mod parse {
    pub const SALES: &str = include_str!("../sql/ingest/parse/sales.sql");
    pub const WAREHOUSE: &str = include_str!("../sql/ingest/parse/warehouse.sql");
    pub const SALES_RAW: &str = include_str!("../sql/ingest/parse/sales_raw.sql");
    pub const WAREHOUSE_RAW: &str = include_str!("../sql/ingest/parse/warehouse_raw.sql");
    pub const MESSAGE_JSON: &str = include_str!("../sql/ingest/parse/message_json.sql");
    pub const SALES_JSON: &str = include_str!("../sql/ingest/parse/sales_json.sql");
    pub const WAREHOUSE_JSON: &str = include_str!("../sql/ingest/parse/warehouse_json.sql");
    pub const METADATA_KAFKA: &str = include_str!("../sql/ingest/parse/metadata_kafka.sql");
    pub const METADATA_REPLAY: &str = include_str!("../sql/ingest/parse/metadata_replay.sql");
    pub const EVENT_TIME: &str = include_str!("../sql/ingest/parse/event_time.sql");
}

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
    let mut values = config.values()?;
    values.insert(
        "kafka_security",
        match &config.kafka_security {
            Some(k) if features.kafka_sasl_settings => k.table_settings(),
            _ => String::new(),
        },
    );
    values.insert(
        "max_block_size",
        if features.kafka_modern_settings {
            config.max_block_size
        } else {
            config.unflushed_block_size.unwrap_or(config.max_block_size)
        }
        .to_string(),
    );
    let flag = |name: &str| features.get(name);
    let r = |name: &str, src: &str| {
        template::render(name, src, &values, &flag).map_err(Error::Template)
    };
    let mut ingest = Vec::new();
    for o in INGEST {
        if let Some((f, want)) = o.only_if {
            if features.get(f) != Some(want) {
                continue;
            }
        }
        let mut v = values.clone();
        v.insert("name", o.name.to_string());
        if let Some(input) = o.input {
            let (with, from) = parsed(input, o.parses, &values, &features)?;
            v.insert("with", with);
            v.insert("from", from);
        }
        let sql = template::render(o.name, o.source, &v, &flag).map_err(Error::Template)?;
        let mut s = template::statements(&sql);
        if s.len() != 1 {
            return Err(Error::Template(format!(
                "{} must hold one statement",
                o.name
            )));
        }
        ingest.push((o.name, o.kind, s.remove(0)));
    }
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
        ingest,
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

/// What a view reads, as `{{with}}` and `{{from}}`: the input's fields, parsed by the
/// reader this server needs, and checked against the contract (`reject_reason`).
/// - Current servers: the Kafka table's parse view (`parses`) reads the whole message with
///   JSON functions in subqueries; every other view of the topic reads the parsed fan-out.
/// - 18.16 (and the replay door): the raw message is parsed in one flat query, a WITH list
///   over the raw table, in every view: 18.16 runs a view over its outermost FROM only and
///   does not cascade into a fan-out table.
fn parsed(
    input: Input,
    parses: bool,
    values: &BTreeMap<&'static str, String>,
    features: &Features,
) -> Result<(String, String)> {
    let flag = |name: &str| features.get(name);
    let mut v = values.clone();
    v.insert("source", input.table().to_string());
    v.insert(
        "topic",
        values[if input.is_sales() {
            "sales_topic"
        } else {
            "warehouse_topic"
        }]
        .clone(),
    );
    let render = |name: &str, src: &str, v: &BTreeMap<&'static str, String>| {
        template::render(name, src, v, &flag)
            .map(|s| strip_comments(&s))
            .map_err(Error::Template)
    };
    if !input.is_replay() && features.kafka_error_stream && !parses {
        let fanout = if input.is_sales() {
            "sales_parsed"
        } else {
            "warehouse_parsed"
        };
        return Ok((String::new(), format!("{}.{fanout}", values["db"])));
    }
    let metadata = if input.is_replay() {
        render("parse/metadata_replay.sql", parse::METADATA_REPLAY, &v)?
    } else {
        render("parse/metadata_kafka.sql", parse::METADATA_KAFKA, &v)?
    };
    v.insert("metadata", metadata.clone());
    v.insert(
        "event_time",
        render("parse/event_time.sql", parse::EVENT_TIME, &v)?,
    );
    let checks = if input.is_sales() {
        render("parse/sales.sql", parse::SALES, &v)?
    } else {
        render("parse/warehouse.sql", parse::WAREHOUSE, &v)?
    };
    if parses {
        v.insert(
            "message",
            render("parse/message_json.sql", parse::MESSAGE_JSON, &v)?,
        );
        let fields = if input.is_sales() {
            render("parse/sales_json.sql", parse::SALES_JSON, &v)?
        } else {
            render("parse/warehouse_json.sql", parse::WAREHOUSE_JSON, &v)?
        };
        return Ok((
            String::new(),
            format!("(SELECT *,\n{checks}\nFROM ({fields}))"),
        ));
    }
    let source = format!("{}.{}", values["db"], input.table());
    let fields = if input.is_sales() {
        render("parse/sales_raw.sql", parse::SALES_RAW, &v)?
    } else {
        render("parse/warehouse_raw.sql", parse::WAREHOUSE_RAW, &v)?
    };
    let with: Vec<&str> = [metadata.as_str(), fields.as_str(), checks.as_str()]
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    Ok((format!("WITH\n{}", with.join(",\n")), source))
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
    let features = Features::for_version(version)?;
    let create_db = format!("CREATE DATABASE IF NOT EXISTS {}", config.database);
    let create_db = match config.cluster.as_deref().filter(|_| config.replicated) {
        Some(c) => cluster::on_cluster(&create_db, c),
        None => create_db,
    };
    let mut out = format!(
        "-- Schema for ClickHouse {version} (database {db}).\n-- Features: {features}\n\n\
         {create_db};\n\n",
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
