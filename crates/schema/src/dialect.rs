//! The two server families the schema supports, chosen from the server's version here and
//! nowhere else.

use std::fmt;

use clickhouse_http::ServerVersion;

use crate::{Error, Result, Sql};

/// The oldest server the schema supports (what Debian ships).
pub const OLDEST: ServerVersion = ServerVersion::new(18, 16, 0);

/// The first version of the current family: every version from here on is supported.
pub const CURRENT: ServerVersion = ServerVersion::new(21, 7, 0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// 21.7 and later (23.3, the original demo's, and the 25.x LTS included): RawBLOB with
    /// the error stream mode, virtual columns, views cascading from `sales` and
    /// `stock_movements`, flush on time, table TTL. The schema's own text.
    Current,
    /// 18.16, the stand-in these machines run: everything it needs beyond the current text
    /// is in `crates/clickhouse-18-16`.
    ClickHouse1816,
}

impl Dialect {
    pub fn for_version(v: ServerVersion) -> Result<Self> {
        if v.at_least(CURRENT.major, CURRENT.minor) {
            Ok(Dialect::Current)
        } else if v.at_least(OLDEST.major, OLDEST.minor) && !v.at_least(19, 0) {
            Ok(Dialect::ClickHouse1816)
        } else {
            // The versions between had neither family's tests behind them.
            Err(Error::Invalid(format!(
                "ClickHouse {v} is not supported: the schema supports two families, \
                 {}.{} or later (25.x included) and the 18.16 stand-in; upgrade the server",
                CURRENT.major, CURRENT.minor
            )))
        }
    }

    /// This dialect's text of a schema file.
    pub fn text(self, sql: Sql) -> &'static str {
        match self {
            Dialect::Current => sql.text,
            Dialect::ClickHouse1816 => clickhouse_18_16::schema_text(sql.path).unwrap_or(sql.text),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Current => "current (ClickHouse 21.7 and later)",
            Dialect::ClickHouse1816 => "ClickHouse 18.16 (crates/clickhouse-18-16)",
        })
    }
}

/// `kafka_security_protocol` and `kafka_sasl_*` as Kafka table settings (25.4+); older
/// servers take them from the `<kafka>` section of their config only.
pub fn takes_kafka_security_settings(v: ServerVersion) -> bool {
    v.at_least(25, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_families_and_nothing_between() {
        let v = |a, b| Dialect::for_version(ServerVersion::new(a, b, 1));
        assert_eq!(v(18, 16).unwrap(), Dialect::ClickHouse1816);
        for (a, b) in [(21, 7), (23, 3), (25, 8), (26, 9)] {
            assert_eq!(v(a, b).unwrap(), Dialect::Current);
        }
        for (a, b) in [(18, 14), (19, 1), (20, 1), (20, 3), (21, 6)] {
            let e = v(a, b).unwrap_err().to_string();
            assert!(
                e.contains("two families") && e.contains("21.7") && e.contains("18.16"),
                "{e}"
            );
        }
    }
}
