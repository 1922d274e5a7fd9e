//! What each ClickHouse version can do, as named flags the `.sql` files test with `-- @if`.

use std::fmt;

use clickhouse_http::ServerVersion;

use crate::{Error, Result};

/// The oldest server the schema supports (what Debian ships).
pub const OLDEST: ServerVersion = ServerVersion::new(18, 16, 0);

/// The first version of the current family: every version from here on is supported.
pub const CURRENT: ServerVersion = ServerVersion::new(21, 7, 0);

/// Only two families pass [`Features::for_version`]: 18.16, where every flag below is false,
/// and 21.7 or later, where every one is true but `kafka_sasl_settings` (25.4+). The flags
/// name what each `.sql` branch relies on, not versions anyone runs in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `_topic`, `_key` and `_offset` virtual columns of the Kafka engine (19.1+; 18.16 has none).
    pub kafka_virtual_columns: bool,
    /// `_partition` and `_timestamp_ms` virtual columns of the Kafka engine (20.5+).
    pub kafka_partition_column: bool,
    /// `kafka_flush_interval_ms`, `kafka_poll_timeout_ms`, `kafka_thread_per_consumer`,
    /// `kafka_handle_error_mode` (21.6+).
    pub kafka_modern_settings: bool,
    /// `kafka_handle_error_mode = 'stream'`: unparsable messages become rows with `_error`
    /// and `_raw_message` instead of stopping the table; with `toJSONString` for refused
    /// rows (21.7+).
    pub kafka_error_stream: bool,
    /// A view's insert into its target table triggers the target's own views (not on
    /// 18.16; relied on from 20.3).
    pub cascading_views: bool,
    /// `kafka_security_protocol`, `kafka_sasl_*` as Kafka table settings (25.4+); older
    /// servers take them from the `<kafka>` section of their config only.
    pub kafka_sasl_settings: bool,
    /// `TTL` on MergeTree tables (19.6+; 18.16 has none): old dead letters expire by
    /// themselves there, elsewhere `pipeline dead-letters purge` deletes them.
    pub table_ttl: bool,
}

impl Features {
    pub fn for_version(v: ServerVersion) -> Result<Self> {
        if v < OLDEST {
            return Err(Error::Invalid(format!(
                "ClickHouse {v} is older than the oldest supported version, {OLDEST}"
            )));
        }
        // Two families are supported and tested: 18.16 (the stand-in these machines run) and
        // current servers. The versions between had neither's tests behind them.
        if v.at_least(19, 0) && !v.at_least(CURRENT.major, CURRENT.minor) {
            return Err(Error::Invalid(format!(
                "ClickHouse {v} is between the two families supported: 18.16, and {}.{} or \
                 later (25.x included); upgrade the server",
                CURRENT.major, CURRENT.minor
            )));
        }
        Ok(Features {
            kafka_virtual_columns: v.at_least(19, 1),
            kafka_partition_column: v.at_least(20, 5),
            kafka_modern_settings: v.at_least(21, 6),
            kafka_error_stream: v.at_least(21, 7),
            cascading_views: v.at_least(20, 3),
            kafka_sasl_settings: v.at_least(25, 4),
            table_ttl: v.at_least(19, 6),
        })
    }

    pub fn get(&self, name: &str) -> Option<bool> {
        match name {
            "kafka_virtual_columns" => Some(self.kafka_virtual_columns),
            "kafka_partition_column" => Some(self.kafka_partition_column),
            "kafka_modern_settings" => Some(self.kafka_modern_settings),
            "kafka_error_stream" => Some(self.kafka_error_stream),
            "cascading_views" => Some(self.cascading_views),
            "kafka_sasl_settings" => Some(self.kafka_sasl_settings),
            "table_ttl" => Some(self.table_ttl),
            _ => None,
        }
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kafka_virtual_columns={}, kafka_partition_column={}, kafka_modern_settings={}, kafka_error_stream={}, cascading_views={}, kafka_sasl_settings={}, table_ttl={}",
            self.kafka_virtual_columns, self.kafka_partition_column, self.kafka_modern_settings, self.kafka_error_stream, self.cascading_views, self.kafka_sasl_settings, self.table_ttl
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_families_and_nothing_between() {
        let v = |a, b| Features::for_version(ServerVersion::new(a, b, 1));
        let old = v(18, 16).unwrap();
        assert!(!old.kafka_virtual_columns && !old.cascading_views && !old.kafka_error_stream);
        for (a, b) in [(21, 7), (23, 3), (25, 8), (26, 9)] {
            let f = v(a, b).unwrap();
            assert!(f.kafka_virtual_columns && f.cascading_views && f.kafka_error_stream);
        }
        for (a, b) in [(19, 1), (20, 3), (21, 6)] {
            let e = v(a, b).unwrap_err().to_string();
            assert!(
                e.contains("between the two families") && e.contains("21.7"),
                "{e}"
            );
        }
        assert!(v(18, 14).is_err());
    }
}
