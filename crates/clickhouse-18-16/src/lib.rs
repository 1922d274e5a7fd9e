//! ClickHouse 18.16 at one seam: everything that exists only because these machines run
//! 18.16 instead of a current server (21.7 on). Delete this crate, `Dialect::ClickHouse1816`
//! in `crates/schema/src/dialect.rs` and the places that match on it, and what is left is the
//! pipeline for current servers.
//!
//! What 18.16 lacks, and what stands in for it here:
//! - **No RawBLOB, no error stream mode**: one unreadable message stops a Kafka table for
//!   good. Its Kafka tables read each message as one raw CSV line (`sql/ingest/*_kafka.sql`,
//!   parsed by `sql/parse/*_raw.sql`), which needs the server profile's DEL delimiter and
//!   no quoting ([`engine_profile`]). What even that cannot read stalls the table, and
//!   [`rescue`] moves the stuck messages in by another door: the `*_replay` Null tables
//!   (`sql/ingest/*_replay.sql`), whose views mirror the Kafka table's ([`REPLAY_DOORS`]).
//! - **Commits it never wrote**: the engine can commit a message it did not write;
//!   [`verify`] compares what the group committed with what the tables hold and replays
//!   the difference through the same door ([`replay`]).
//! - **No virtual columns** (`_offset`, `_partition`): `sql/parse/metadata_kafka.sql`.
//! - **No cascading views**: a view's insert into its target does not trigger the target's
//!   views, so each rollup view reads every source itself (`sql/ingest/*_mv.sql`), and a
//!   gate (`sql/ingest/gate.sql`) holds the engine until all of a topic's views exist.
//! - **No flush interval**: a block is written only when full, so the block size follows
//!   the expected rate (`SchemaConfig::unflushed_block_size`).
//! - **No table TTL**: its text of migration 0007 leaves it out (`sql/migrations/`).

pub mod engine_profile;
pub mod replay;
pub mod rescue;
pub mod verify;

pub use engine_profile::{
    engine_profile_mismatches, engine_profile_problem, require_engine_profile, Mismatch,
    DEFAULT_ENGINE_PROFILE,
};
pub use reconcile::{Error, Result, Source};

/// 18.16's text of a schema file, by its path under `crates/schema/sql/`, where 18.16
/// needs a different one; `None`: the current text serves both.
pub fn schema_text(path: &str) -> Option<&'static str> {
    Some(match path {
        "ingest/sales_kafka.sql" => include_str!("../sql/ingest/sales_kafka.sql"),
        "ingest/warehouse_kafka.sql" => include_str!("../sql/ingest/warehouse_kafka.sql"),
        "ingest/sales_by_minute_mv.sql" => include_str!("../sql/ingest/sales_by_minute_mv.sql"),
        "ingest/stock_by_minute_mv.sql" => include_str!("../sql/ingest/stock_by_minute_mv.sql"),
        "ingest/stock_levels_mv.sql" => include_str!("../sql/ingest/stock_levels_mv.sql"),
        "ingest/parse/metadata_kafka.sql" => include_str!("../sql/parse/metadata_kafka.sql"),
        "migrations/0007_dead_letter_replays.sql" => {
            include_str!("../sql/migrations/0007_dead_letter_replays.sql")
        }
        _ => return None,
    })
}

/// The current schema's objects 18.16 does not get, and why.
pub const NOT_ON_18_16: &[(&str, &str)] = &[
    (
        "sales_parsed",
        "no cascade: each view parses the raw line itself",
    ),
    (
        "warehouse_parsed",
        "no cascade: each view parses the raw line itself",
    ),
    (
        "sales_parse_mv",
        "no cascade: each view parses the raw line itself",
    ),
    (
        "warehouse_parse_mv",
        "no cascade: each view parses the raw line itself",
    ),
    // No error stream: the verifier replays every message that landed nowhere through the
    // replay door, offset and bytes exact, so a view here would dead-letter it twice.
    (
        "sales_dead_letter_mv",
        "the replay door's view dead-letters instead",
    ),
    (
        "warehouse_dead_letter_mv",
        "the replay door's view dead-letters instead",
    ),
];

/// A second way into a topic's views: a Null table the rescue and the verifier insert raw
/// messages into, with views that parse and route them exactly as the Kafka table's do.
pub struct ReplayDoor {
    pub table: &'static str,
    pub ddl: &'static str,
    /// The Kafka table whose messages it takes.
    pub kafka_table: &'static str,
    /// Each view of the door, and the schema file it shares with the Kafka table's view.
    pub views: &'static [(&'static str, &'static str)],
}

pub const REPLAY_DOORS: [ReplayDoor; 2] = [
    ReplayDoor {
        table: "sales_replay",
        ddl: include_str!("../sql/ingest/sales_replay.sql"),
        kafka_table: "sales_kafka",
        views: &[
            ("sales_replay_by_minute_mv", "ingest/sales_by_minute_mv.sql"),
            (
                "sales_replay_dead_letter_mv",
                "ingest/sales_dead_letter_mv.sql",
            ),
            ("sales_replay_mv", "ingest/sales_mv.sql"),
        ],
    },
    ReplayDoor {
        table: "warehouse_replay",
        ddl: include_str!("../sql/ingest/warehouse_replay.sql"),
        kafka_table: "warehouse_kafka",
        views: &[
            ("stock_replay_by_minute_mv", "ingest/stock_by_minute_mv.sql"),
            ("stock_replay_levels_mv", "ingest/stock_levels_mv.sql"),
            (
                "warehouse_replay_dead_letter_mv",
                "ingest/warehouse_dead_letter_mv.sql",
            ),
            ("stock_movements_replay_mv", "ingest/stock_movements_mv.sql"),
        ],
    },
];

/// How 18.16 parses a raw line (every view, in one flat WITH list over its own table:
/// 18.16 runs a view over its outermost FROM only).
pub mod parse {
    pub const SALES_RAW: &str = include_str!("../sql/parse/sales_raw.sql");
    pub const WAREHOUSE_RAW: &str = include_str!("../sql/parse/warehouse_raw.sql");
    /// The replay table carries the message's place as columns.
    pub const METADATA_REPLAY: &str = include_str!("../sql/parse/metadata_replay.sql");
}

/// A closed gate per Kafka table while its views are made (`crates/schema/src/apply.rs`).
pub const GATE: &str = include_str!("../sql/ingest/gate.sql");

/// 18.16's text of the engine-ceiling bench's Kafka table (`crates/bench/sql/engine_ceiling/`).
pub const BENCH_ENGINE_CEILING_KAFKA_TABLE: &str =
    include_str!("../sql/bench/engine_ceiling_kafka_table.sql");
