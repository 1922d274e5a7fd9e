//! The checks behind `pipeline doctor` (and the start of `pipeline up`): each one says what
//! it found and, when it fails, what to do about it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clickhouse_http::template::{self, Values};
use kafka_admin::{KafkaSettings, TopicSpec};

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub hint: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            hint: None,
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Check {
            name,
            ok: false,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

const START_HINT: &str = "start the local services with `scripts/services start`, or point the \
    pipeline at yours with --kafka-brokers / --clickhouse-url";
const KAFKA_SECURITY_HINT: &str = "TLS or SASL failed, not the address: check \
    --kafka-security-protocol, --kafka-ssl-ca-location (the CA that signed the broker's \
    certificate) and, for SASL, --kafka-sasl-mechanism, --kafka-sasl-username and \
    --kafka-sasl-password";
const KAFKA_DROPPED_HINT: &str = "the broker took the connection and dropped it: check that \
    --kafka-brokers names a Kafka listener and that --kafka-security-protocol is what it speaks \
    (a TLS listener drops a plaintext client), then the broker's log";
const KAFKA_ADDRESS_HINT: &str = "check --kafka-brokers: host names that resolve here and ports \
    a broker listens on, reachable from this machine";
const TIMEOUT: Duration = Duration::from_secs(5);
/// A topic of the doctor's own, so the ClickHouse → broker check never touches real data.
const PROBE_TOPIC: &str = "pipeline_doctor";

pub struct Options {
    /// Missing topics are a failure (doctor) or about to be created (up).
    pub require_topics: bool,
    pub check_clickhouse_to_broker: bool,
}

pub async fn run_checks(config: &Config, opts: &Options) -> Vec<Check> {
    let mut checks = Vec::new();
    let kafka = config.kafka();
    let broker_ok = match blocking(kafka.clone(), |k| {
        kafka_admin::fetch_topics(&k, &[], TIMEOUT).map(|_| ())
    })
    .await
    {
        Ok(()) => {
            checks.push(Check::ok(
                "broker",
                format!("{} answers metadata", config.kafka_brokers),
            ));
            true
        }
        Err(e) => {
            let hint = broker_hint(&config.kafka_brokers, &e);
            checks.push(Check::fail("broker", e.to_string(), hint));
            false
        }
    };
    if broker_ok {
        let names: Vec<String> = config.topics().iter().map(|s| s.to_string()).collect();
        match blocking(kafka.clone(), move |k| {
            let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            kafka_admin::fetch_topics(&k, &refs, TIMEOUT)
        })
        .await
        {
            Ok(topics) => {
                for t in topics {
                    match t.partitions {
                        Some(n) => checks.push(Check::ok(
                            "topic",
                            format!("{} has {n} partition(s)", t.name),
                        )),
                        None if opts.require_topics => checks.push(Check::fail(
                            "topic",
                            format!("{} does not exist", t.name),
                            "`pipeline up` or `pipeline generate` creates it",
                        )),
                        None => checks.push(Check::ok(
                            "topic",
                            format!("{} is missing and will be created", t.name),
                        )),
                    }
                }
            }
            Err(e) => {
                let hint = broker_hint(&config.kafka_brokers, &e);
                checks.push(Check::fail("topic", e.to_string(), hint))
            }
        }
    }

    // The configured database may not exist yet: ask from `system`.
    let ch = config.clickhouse().with_database("system");
    let version = match ch.version().await {
        Ok(v) => match schema::Dialect::for_version(v) {
            Ok(dialect) => {
                checks.push(Check::ok(
                    "clickhouse",
                    format!("{} answers, version {v}", config.clickhouse_url),
                ));
                Some((v, dialect))
            }
            Err(e) => {
                checks.push(Check::fail(
                    "clickhouse",
                    format!("{} answers, but {e}", config.clickhouse_url),
                    "the schema supports ClickHouse 18.16 and 21.7 or later",
                ));
                None
            }
        },
        Err(e) => {
            checks.push(Check::fail("clickhouse", e.to_string(), START_HINT));
            None
        }
    };
    if let Some((v, dialect)) = version {
        #[derive(serde::Deserialize)]
        struct N {
            n: u64,
        }
        let exists = sql(
            "doctor/database_exists.sql",
            include_str!("../sql/doctor/database_exists.sql"),
            Values::new().ident("db", &config.database),
        );
        match ch.query_one::<N>(&exists).await {
            Ok(N { n: 1 }) => {
                checks.push(Check::ok("database", format!("{} exists", config.database)))
            }
            Ok(_) => checks.push(Check::ok(
                "database",
                format!(
                    "{} does not exist yet; `pipeline schema apply` creates it",
                    config.database
                ),
            )),
            Err(e) => checks.push(Check::fail(
                "database",
                e.to_string(),
                "check --clickhouse-user and its grants",
            )),
        }
        if dialect == schema::Dialect::ClickHouse1816 {
            checks.push(engine_profile(config, &ch).await);
        }
        if broker_ok && opts.check_clickhouse_to_broker {
            checks.push(clickhouse_reaches_broker(config, &kafka, v).await);
        }
    }
    checks
}

/// Servers before 21.7: the profile the Kafka engine runs with suits the raw-line reader
/// (see `schema::require_engine_profile`).
async fn engine_profile(config: &Config, ch: &clickhouse_http::Client) -> Check {
    const NAME: &str = "engine profile";
    let profile = &config.clickhouse_engine_profile;
    match clickhouse_18_16::engine_profile_mismatches(ch, profile).await {
        Ok(wrong) if wrong.is_empty() => Check::ok(
            NAME,
            format!("profile {profile:?} reads raw lines (DEL delimiter, no quoting)"),
        ),
        Ok(wrong) => Check::fail(
            NAME,
            clickhouse_18_16::engine_profile_problem(profile, &wrong),
            "add the XML above to the server's users.xml and restart it",
        ),
        Err(e) => Check::fail(
            NAME,
            e.to_string(),
            "connect as a user that may switch profiles (not readonly)",
        ),
    }
}

async fn blocking<T: Send + 'static>(
    kafka: KafkaSettings,
    f: impl FnOnce(KafkaSettings) -> publish::Result<T> + Send + 'static,
) -> publish::Result<T> {
    tokio::task::spawn_blocking(move || f(kafka))
        .await
        .map_err(|e| publish::Error::Invalid(e.to_string()))?
}

/// What to do when this program's clients cannot reach `brokers`: look at the security
/// settings when TLS or SASL refused them (or librdkafka refused the settings themselves),
/// at the listener when a connection was made and dropped, start the local services when
/// nothing answers on this machine, check the addresses otherwise.
fn broker_hint(brokers: &str, e: &publish::Error) -> &'static str {
    use kafka_admin::Cause;
    match e {
        _ if e.is_security() => KAFKA_SECURITY_HINT,
        publish::Error::Unreachable {
            cause: Cause::Transport,
            ..
        } => KAFKA_DROPPED_HINT,
        publish::Error::Unreachable {
            cause: Cause::Resolve,
            ..
        } => KAFKA_ADDRESS_HINT,
        _ if all_local(brokers) => START_HINT,
        _ => KAFKA_ADDRESS_HINT,
    }
}

/// Whether every broker in the list (`host:port`, `[v6]:port`, `proto://host:port`) is on
/// this machine.
fn all_local(brokers: &str) -> bool {
    brokers
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .all(|b| {
            let b = b.split_once("://").map_or(b, |(_, rest)| rest);
            let host = match b.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(v6),
                None => b.rsplit_once(':').map_or(b, |(host, _)| host),
            };
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
        })
}

/// Produces a marker to the doctor's topic, then has ClickHouse read it through a throwaway
/// Kafka table: the only way to know the server's librdkafka can talk to the broker.
async fn clickhouse_reaches_broker(
    config: &Config,
    kafka: &KafkaSettings,
    version: clickhouse_http::ServerVersion,
) -> Check {
    const NAME: &str = "clickhouse→broker";
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // The group, the table and the marker are this process's own: two doctors started in the
    // same millisecond (parallel tests, two `up`s) sharing a group split the probe's one
    // partition, and the one left without it never reads its marker.
    let probe = format!("{stamp}_{}", std::process::id());
    let marker = format!("doctor-{probe}");
    let created = kafka_admin::ensure_topics(
        kafka,
        &[TopicSpec {
            name: PROBE_TOPIC.into(),
            partitions: 1,
        }],
        TIMEOUT,
    )
    .await;
    if let Err(e) = created {
        return Check::fail(
            NAME,
            format!("cannot create the probe topic: {e}"),
            "check the broker's ACLs",
        );
    }
    // Start the probe's group at the current end, so it reads just the marker sent next.
    let group = format!("pipeline_doctor_{probe}");
    let positioned = {
        let group = group.clone();
        blocking(kafka.clone(), move |k| {
            let ends: Vec<(i32, i64)> = kafka_admin::partition_offsets(&k, PROBE_TOPIC, TIMEOUT)?
                .iter()
                .map(|p| (p.partition, p.high))
                .collect();
            kafka_admin::commit_offsets(&k, &group, PROBE_TOPIC, &ends)
        })
        .await
    };
    if let Err(e) = positioned {
        return Check::fail(
            NAME,
            format!("cannot position the probe's group: {e}"),
            broker_hint(&config.kafka_brokers, &e),
        );
    }
    let send = {
        let marker = marker.clone();
        blocking(kafka.clone(), move |k| {
            let p = publish::Publisher::new(&k, &[PROBE_TOPIC])?;
            let payload = format!(r#"{{"marker":"{marker}"}}"#);
            p.send(0, b"doctor", payload.as_bytes(), 0, 0)?;
            p.flush(TIMEOUT)?;
            Ok(p.counters(0).ledger().events)
        })
        .await
    };
    match send {
        Ok(1) => {}
        Ok(_) => {
            return Check::fail(
                NAME,
                "the broker did not acknowledge the probe message",
                START_HINT,
            )
        }
        Err(e) => {
            let hint = broker_hint(&config.kafka_brokers, &e);
            return Check::fail(NAME, e.to_string(), hint);
        }
    }
    let table = Values::new().ident("table", &format!("pipeline_doctor_{probe}"));
    let ch = config.clickhouse().with_database("default");
    let ddl = sql(
        "doctor/probe_kafka_table.sql",
        include_str!("../sql/doctor/probe_kafka_table.sql"),
        table
            .clone()
            .string("brokers", &config.clickhouse_kafka_brokers)
            .string("topic", PROBE_TOPIC)
            .string("group", &group),
    );
    if let Err(e) = ch.execute(&ddl).await {
        return Check::fail(
            NAME,
            format!("cannot create a Kafka table: {e}"),
            "check the user's grants",
        );
    }
    // Current servers refuse a direct SELECT from a Kafka table unless asked.
    let reader = if version.at_least(21, 0) {
        ch.clone()
            .with_setting("stream_like_engine_allow_direct_select", 1)
    } else {
        ch.clone()
    };
    #[derive(serde::Deserialize)]
    struct Row {
        marker: String,
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = false;
    let mut last_error = None;
    while !seen && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(
            Duration::from_secs(15),
            reader.query::<Row>(&sql(
                "doctor/probe_read.sql",
                include_str!("../sql/doctor/probe_read.sql"),
                table.clone(),
            )),
        )
        .await
        {
            Ok(Ok(rows)) => seen = rows.iter().any(|r| r.marker == marker),
            Ok(Err(e)) => last_error = Some(e.to_string()),
            Err(_) => last_error = Some("the read timed out".into()),
        }
    }
    let drop = sql(
        "doctor/probe_drop.sql",
        include_str!("../sql/doctor/probe_drop.sql"),
        table,
    );
    let _ = ch.execute(&drop).await;
    if seen {
        Check::ok(
            NAME,
            format!(
                "ClickHouse read a probe message from {}",
                config.clickhouse_kafka_brokers
            ),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "ClickHouse did not read the probe message from {} within 20 s{}",
                config.clickhouse_kafka_brokers,
                last_error.map(|e| format!(" ({e})")).unwrap_or_default()
            ),
            "set --clickhouse-kafka-brokers to the address the ClickHouse server reaches the broker at; \
             on ClickHouse 18.16 the server needs a librdkafka ≥ 2.x (scripts/services preloads one); \
             see the server's log",
        )
    }
}

/// Prints the checks; true when all passed.
pub fn report(checks: &[Check]) -> bool {
    for c in checks {
        let mark = if c.ok { "ok  " } else { "FAIL" };
        println!("{mark} {:<18} {}", c.name, c.detail);
        if let Some(h) = &c.hint {
            println!("     {:<18} hint: {h}", "");
        }
    }
    checks.iter().all(|c| c.ok)
}

/// Renders one of `sql/doctor/`. Its names are the config's (checked when it was read) or
/// this program's own, so they always render.
fn sql(name: &str, source: &str, values: Values) -> String {
    template::render(name, source, &values, &|_| None)
        .expect("doctor's names are checked when the config is read")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(cause: kafka_admin::Cause) -> publish::Error {
        publish::Error::Unreachable {
            brokers: "b".into(),
            message: "m".into(),
            cause,
        }
    }

    #[test]
    fn the_broker_hint_fits_the_cause() {
        use kafka_admin::Cause::*;
        for cause in [Tls, Authentication] {
            for brokers in ["127.0.0.1:9093", "kafka1:9093"] {
                let hint = broker_hint(brokers, &unreachable(cause));
                assert_eq!(hint, KAFKA_SECURITY_HINT, "{cause:?} {brokers}");
            }
        }
        for flag in [
            "--kafka-security-protocol",
            "--kafka-ssl-ca-location",
            "--kafka-sasl-mechanism",
            "--kafka-sasl-username",
            "--kafka-sasl-password",
        ] {
            assert!(KAFKA_SECURITY_HINT.contains(flag), "{flag}");
        }
        let bad_settings = publish::Error::Kafka(rdkafka::error::KafkaError::ClientCreation(
            "ssl.ca.location failed".into(),
        ));
        assert_eq!(
            broker_hint("127.0.0.1:9093", &bad_settings),
            KAFKA_SECURITY_HINT
        );
        // Nothing answers: start the local services, or check the remote address.
        for cause in [Unknown, Refused] {
            let e = unreachable(cause);
            assert_eq!(broker_hint("127.0.0.1:9092", &e), START_HINT, "{cause:?}");
            let hint = broker_hint("kafka1:9092", &e);
            assert_eq!(hint, KAFKA_ADDRESS_HINT, "{cause:?}");
        }
        // Something else answers, or nothing is found at all: not the services.
        for brokers in ["127.0.0.1:9092", "kafka1:9092"] {
            let hint = broker_hint(brokers, &unreachable(Transport));
            assert_eq!(hint, KAFKA_DROPPED_HINT);
            assert!(hint.contains("--kafka-security-protocol"));
            let hint = broker_hint(brokers, &unreachable(Resolve));
            assert_eq!(hint, KAFKA_ADDRESS_HINT);
        }
        // Anything else (a flush that timed out) is hinted by the address alone.
        let other = publish::Error::Invalid("x".into());
        assert_eq!(broker_hint("127.0.0.1:9092", &other), START_HINT);
        assert_eq!(broker_hint("kafka1:9092", &other), KAFKA_ADDRESS_HINT);
    }

    #[test]
    fn local_brokers_are_loopback_or_localhost_only() {
        for local in [
            "127.0.0.1:9092",
            "localhost:9092",
            "LOCALHOST",
            "[::1]:9092",
            "127.0.0.2:1, localhost:2",
            "ssl://127.0.0.1:9093",
            "0.0.0.0:9092",
        ] {
            assert!(all_local(local), "{local}");
        }
        for remote in [
            "kafka1:9092",
            "10.0.0.5:9092",
            "127.0.0.1:9092,kafka1:9092",
            "[2001:db8::1]:9092",
            "localhost.example.com:9092",
        ] {
            assert!(!all_local(remote), "{remote}");
        }
    }
}
