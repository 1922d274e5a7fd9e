//! Options shared by every subcommand, defined once: [`CommonArgs`] is both the flags (with
//! their environment variables) and the `--config` TOML file. Each option comes from, in
//! order: the flag, its environment variable, the file, the default.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";
pub const DEFAULT_CLICKHOUSE_URL: &str = "http://127.0.0.1:8123";

/// A password or token: `Debug` and `Display` print `***`, so no log, error or `{:?}` of a
/// config shows it; [`Secret::expose`] is the one way to the text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The shared options, as flags and environment variables (clap) and as the keys of the
/// `--config` file (serde, snake_case, unknown keys refused). Every field is optional here;
/// [`CommonArgs::resolve`] lays the levels over each other and fills in the defaults.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommonArgs {
    /// TOML file with any of the options below (snake_case keys); flags and env win over it.
    #[arg(long, env = "PIPELINE_CONFIG", global = true, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Kafka bootstrap servers, as this program reaches them [default: 127.0.0.1:9092].
    #[arg(
        long,
        env = "KAFKA_BROKERS",
        global = true,
        value_name = "HOST:PORT,...",
        help_heading = "Kafka"
    )]
    pub kafka_brokers: Option<String>,
    /// Topic of sales events [default: sales].
    #[arg(long, env = "SALES_TOPIC", global = true, help_heading = "Kafka")]
    pub sales_topic: Option<String>,
    /// Topic of warehouse (stock movement) events [default: warehouse].
    #[arg(long, env = "WAREHOUSE_TOPIC", global = true, help_heading = "Kafka")]
    pub warehouse_topic: Option<String>,
    /// Replication factor of the topics this program creates; topics that exist are left as
    /// they are [default: the broker's own default.replication.factor].
    #[arg(
        long,
        env = "KAFKA_TOPIC_REPLICATION_FACTOR",
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(i16).range(1..),
        help_heading = "Kafka"
    )]
    pub topic_replication_factor: Option<i16>,
    /// Kafka security protocol for every client and the ClickHouse Kafka engine:
    /// plaintext, ssl, sasl_plaintext or sasl_ssl [default: plaintext].
    #[arg(
        long,
        env = "KAFKA_SECURITY_PROTOCOL",
        global = true,
        value_name = "PROTOCOL",
        help_heading = "Kafka"
    )]
    pub kafka_security_protocol: Option<String>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(
        long,
        env = "KAFKA_SASL_MECHANISM",
        global = true,
        value_name = "MECHANISM",
        help_heading = "Kafka"
    )]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(
        long,
        env = "KAFKA_SASL_USERNAME",
        global = true,
        value_name = "USER",
        help_heading = "Kafka"
    )]
    pub kafka_sasl_username: Option<String>,
    /// SASL password (never logged; prefer the environment variable).
    #[arg(
        long,
        env = "KAFKA_SASL_PASSWORD",
        global = true,
        hide_env_values = true,
        value_name = "PASSWORD",
        help_heading = "Kafka"
    )]
    pub kafka_sasl_password: Option<Secret>,
    /// CA certificate file for ssl/sasl_ssl, for this program's clients (the ClickHouse
    /// server takes its own from its config).
    #[arg(
        long,
        env = "KAFKA_SSL_CA_LOCATION",
        global = true,
        value_name = "FILE",
        help_heading = "Kafka"
    )]
    pub kafka_ssl_ca_location: Option<String>,

    /// ClickHouse HTTP interface [default: http://127.0.0.1:8123].
    #[arg(
        long,
        env = "CLICKHOUSE_URL",
        global = true,
        value_name = "URL",
        help_heading = "ClickHouse"
    )]
    pub clickhouse_url: Option<String>,
    /// ClickHouse user [default: the server's default user].
    #[arg(
        long,
        env = "CLICKHOUSE_USER",
        global = true,
        help_heading = "ClickHouse"
    )]
    pub clickhouse_user: Option<String>,
    /// ClickHouse password (never logged; prefer the environment variable).
    #[arg(
        long,
        env = "CLICKHOUSE_PASSWORD",
        global = true,
        hide_env_values = true,
        value_name = "PASSWORD",
        help_heading = "ClickHouse"
    )]
    pub clickhouse_password: Option<Secret>,
    /// ClickHouse database holding the pipeline's tables [default: default].
    #[arg(
        long,
        env = "CLICKHOUSE_DATABASE",
        global = true,
        help_heading = "ClickHouse"
    )]
    pub database: Option<String>,
    /// The brokers as the ClickHouse server reaches them (differs in Docker) [default: --kafka-brokers].
    #[arg(
        long,
        env = "CLICKHOUSE_KAFKA_BROKERS",
        global = true,
        value_name = "HOST:PORT,...",
        help_heading = "ClickHouse"
    )]
    pub clickhouse_kafka_brokers: Option<String>,
    /// ClickHouse before 21.7 only: the profile its Kafka engine runs with, the one the
    /// server's <default_profile> names; checked for the raw-line reader's CSV settings
    /// [default: default].
    #[arg(
        long,
        env = "CLICKHOUSE_ENGINE_PROFILE",
        global = true,
        value_name = "PROFILE",
        help_heading = "ClickHouse"
    )]
    pub clickhouse_engine_profile: Option<String>,
    /// Sharded cluster mode: the cluster's name in the servers' `remote_servers`. Each shard
    /// gets its own tables and Kafka tables (one consumer group across shards); the page
    /// and the checks read Distributed tables in `<database>_all`. Apply the schema on
    /// every shard (`pipeline schema apply --clickhouse-url <shard>`).
    #[arg(
        long,
        env = "PIPELINE_CLUSTER",
        global = true,
        value_name = "NAME",
        help_heading = "ClickHouse"
    )]
    pub cluster: Option<String>,
    /// Cluster mode: every shard's HTTP URL, for the duplicate and rollup checks, which read
    /// each server's new parts [default: --clickhouse-url only].
    #[arg(
        long,
        env = "PIPELINE_SHARD_URLS",
        global = true,
        value_name = "URL,...",
        help_heading = "ClickHouse"
    )]
    pub shard_urls: Option<String>,
}

/// The options after resolution.
#[derive(Debug, Clone)]
pub struct Config {
    pub kafka_brokers: String,
    pub clickhouse_kafka_brokers: String,
    pub clickhouse_url: String,
    pub clickhouse_user: Option<String>,
    pub clickhouse_password: Option<Secret>,
    pub database: String,
    /// The profile the server's Kafka engine runs with (ClickHouse before 21.7).
    pub clickhouse_engine_profile: String,
    pub cluster: Option<String>,
    /// Cluster mode: the servers whose parts the duplicate and rollup checks read.
    pub shard_urls: Vec<String>,
    /// Kafka security, for this program's clients and (where the server takes it as table
    /// settings) the Kafka engine.
    pub kafka_security: Option<schema::KafkaSecurity>,
    pub kafka_ssl_ca_location: Option<String>,
    /// Replication factor of topics created here; `None`: the broker's default.
    pub topic_replication_factor: Option<i16>,
    pub sales_topic: String,
    pub warehouse_topic: String,
}

impl CommonArgs {
    pub fn resolve(&self) -> Result<Config> {
        let o = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let file = toml::from_str::<CommonArgs>(&text)
                    .with_context(|| format!("config file {} is not valid", path.display()))?;
                self.over(file)?
            }
            None => self.clone(),
        };
        let kafka_brokers = o
            .kafka_brokers
            .unwrap_or_else(|| DEFAULT_KAFKA_BROKERS.into());
        let config = Config {
            clickhouse_kafka_brokers: o
                .clickhouse_kafka_brokers
                .unwrap_or_else(|| kafka_brokers.clone()),
            kafka_brokers,
            clickhouse_url: o
                .clickhouse_url
                .unwrap_or_else(|| DEFAULT_CLICKHOUSE_URL.into()),
            clickhouse_user: o.clickhouse_user,
            clickhouse_password: o.clickhouse_password,
            database: o.database.unwrap_or_else(|| "default".into()),
            clickhouse_engine_profile: o
                .clickhouse_engine_profile
                .unwrap_or_else(|| clickhouse_18_16::DEFAULT_ENGINE_PROFILE.into()),
            cluster: o.cluster.filter(|c| !c.is_empty()),
            shard_urls: o
                .shard_urls
                .map(|u| {
                    u.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            kafka_security: kafka_security(
                o.kafka_security_protocol,
                o.kafka_sasl_mechanism,
                o.kafka_sasl_username,
                o.kafka_sasl_password,
            )?,
            kafka_ssl_ca_location: o.kafka_ssl_ca_location,
            topic_replication_factor: o.topic_replication_factor,
            sales_topic: o.sales_topic.unwrap_or_else(|| "sales".into()),
            warehouse_topic: o.warehouse_topic.unwrap_or_else(|| "warehouse".into()),
        };
        clickhouse_http::ident(&config.database).context("--database")?;
        if let Some(c) = &config.cluster {
            clickhouse_http::ident(c).context("--cluster")?;
        }
        if !config.clickhouse_url.starts_with("http://")
            && !config.clickhouse_url.starts_with("https://")
        {
            anyhow::bail!(
                "--clickhouse-url {:?} must start with http:// or https://",
                config.clickhouse_url
            );
        }
        for url in &config.shard_urls {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                anyhow::bail!("--shard-urls: {url:?} must start with http:// or https://");
            }
        }
        if !config.shard_urls.is_empty() && config.cluster.is_none() {
            anyhow::bail!("--shard-urls is for cluster mode: it needs --cluster NAME");
        }
        if let Some(n) = config.topic_replication_factor.filter(|n| *n < 1) {
            anyhow::bail!("topic_replication_factor {n}: a replication factor is at least 1");
        }
        if config.kafka_brokers.trim().is_empty() {
            anyhow::bail!("--kafka-brokers is empty");
        }
        Ok(config)
    }
    /// These options (flags, or their environment variables) laid over those of the file,
    /// key by key. Both sides are this one struct, so they go through its serde form and no
    /// field is listed a second time: a key set here replaces the file's.
    fn over(&self, file: CommonArgs) -> Result<CommonArgs> {
        let table = |o: &CommonArgs| -> Result<toml::Table> {
            match toml::Value::try_from(o).context("options as TOML")? {
                toml::Value::Table(t) => Ok(t),
                other => anyhow::bail!("options as TOML: a table, not {}", other.type_str()),
            }
        };
        let mut merged = table(&file)?;
        merged.extend(table(self)?);
        let mut options: CommonArgs = toml::Value::Table(merged)
            .try_into()
            .context("options laid over the config file")?;
        options.config = self.config.clone();
        Ok(options)
    }
}

/// The Kafka security options, checked together: a SASL setting needs a sasl_* protocol,
/// and a user name goes with a password.
fn kafka_security(
    protocol: Option<String>,
    mechanism: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
) -> Result<Option<schema::KafkaSecurity>> {
    let sasl = mechanism.is_some() || username.is_some() || password.is_some();
    let Some(protocol) = protocol.map(|p| p.to_ascii_lowercase()) else {
        if sasl {
            anyhow::bail!(
                "--kafka-sasl-* needs --kafka-security-protocol sasl_plaintext or sasl_ssl"
            );
        }
        return Ok(None);
    };
    if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(&protocol.as_str()) {
        anyhow::bail!(
            "--kafka-security-protocol {protocol:?}: expected plaintext, ssl, sasl_plaintext or sasl_ssl"
        );
    }
    let is_sasl = protocol.starts_with("sasl_");
    if sasl && !is_sasl {
        anyhow::bail!("--kafka-sasl-* needs a sasl_* protocol, not {protocol}");
    }
    if is_sasl && (username.is_none() || password.is_none()) {
        anyhow::bail!("--kafka-security-protocol {protocol} needs --kafka-sasl-username and --kafka-sasl-password (or KAFKA_SASL_PASSWORD)");
    }
    let mechanism = match mechanism.map(|m| m.to_ascii_uppercase()) {
        None if is_sasl => Some("PLAIN".to_string()),
        Some(m) if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&m.as_str()) => {
            anyhow::bail!(
                "--kafka-sasl-mechanism {m:?}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
            )
        }
        m => m,
    };
    Ok(Some(schema::KafkaSecurity {
        protocol,
        sasl_mechanism: mechanism,
        sasl_username: username,
        sasl_password: password.map(|p| p.expose().to_string()),
    }))
}

impl Config {
    pub fn clickhouse(&self) -> clickhouse_http::Client {
        self.clickhouse_at(&self.clickhouse_url)
    }

    /// A client for another server of the cluster, with the same user.
    pub fn clickhouse_at(&self, url: &str) -> clickhouse_http::Client {
        clickhouse_http::Client::new(url)
            .with_user(
                self.clickhouse_user.clone(),
                self.clickhouse_password
                    .as_ref()
                    .map(|p| p.expose().to_string()),
            )
            .with_database(&self.database)
    }

    /// The servers whose parts the duplicate and rollup checks read: every shard listed, or
    /// the one server.
    pub fn check_urls(&self) -> Vec<String> {
        if self.shard_urls.is_empty() {
            vec![self.clickhouse_url.clone()]
        } else {
            self.shard_urls.clone()
        }
    }

    pub fn kafka(&self) -> kafka_admin::KafkaSettings {
        let mut k = kafka_admin::KafkaSettings::new(&self.kafka_brokers);
        if let Some(s) = &self.kafka_security {
            k.options.extend(s.librdkafka_options());
        }
        if let Some(ca) = &self.kafka_ssl_ca_location {
            k.options.push(("ssl.ca.location".into(), ca.clone()));
        }
        k
    }

    /// How topics created here are replicated.
    pub fn topic_replication(&self) -> kafka_admin::Replication {
        match self.topic_replication_factor {
            Some(n) => kafka_admin::Replication::Factor(n),
            None => kafka_admin::Replication::BrokerDefault,
        }
    }

    pub fn schema(&self) -> schema::SchemaConfig {
        let mut s = schema::SchemaConfig::new(&self.database, &self.clickhouse_kafka_brokers);
        s.sales_topic = self.sales_topic.clone();
        s.warehouse_topic = self.warehouse_topic.clone();
        s.cluster = self.cluster.clone();
        s.kafka_security = self.kafka_security.clone();
        s.engine_profile = self.clickhouse_engine_profile.clone();
        s
    }

    /// Where the page, the audit and the checks read: the tables themselves, or in cluster
    /// mode the Distributed tables over every shard's.
    pub fn query_database(&self) -> String {
        match &self.cluster {
            Some(_) => schema::distributed_database(&self.database),
            None => self.database.clone(),
        }
    }

    pub fn topics(&self) -> [&str; 2] {
        [&self.sales_topic, &self.warehouse_topic]
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: super::CommonArgs,
    }

    /// Held by every test that sets or removes an environment variable, or reads an option
    /// another test sets by one: the environment is the process's, shared by all tests.
    static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn env_lock() -> std::sync::MutexGuard<'static, ()> {
        ENV.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resolve(args: &[&str]) -> anyhow::Result<super::Config> {
        Cli::try_parse_from(std::iter::once("pipeline").chain(args.iter().copied()))?
            .common
            .resolve()
    }

    #[test]
    fn kafka_security_is_checked_and_reaches_the_clients() {
        let c = resolve(&[
            "--kafka-security-protocol",
            "SASL_SSL",
            "--kafka-sasl-username",
            "u",
            "--kafka-sasl-password",
            "p",
        ])
        .unwrap();
        let options = c.kafka().options;
        for (k, v) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ] {
            assert!(options.contains(&(k.into(), v.into())), "{k}: {options:?}");
        }
        assert!(
            !format!("{c:?}").contains("\"p\""),
            "the password is not shown"
        );
        assert_eq!(c.schema().kafka_security, c.kafka_security);
        for bad in [
            &["--kafka-sasl-username", "u"][..],
            &["--kafka-security-protocol", "sasl_plaintext"],
            &["--kafka-security-protocol", "tls"],
            &[
                "--kafka-security-protocol",
                "ssl",
                "--kafka-sasl-username",
                "u",
            ],
            &[
                "--kafka-security-protocol",
                "sasl_plaintext",
                "--kafka-sasl-mechanism",
                "GSSAPI",
                "--kafka-sasl-username",
                "u",
                "--kafka-sasl-password",
                "p",
            ],
        ] {
            assert!(resolve(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let _env = env_lock();
        let dir = std::env::temp_dir().join(format!("pipeline-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.toml");
        std::fs::write(
            &file,
            "kafka_brokers = \"file:1\"\ndatabase = \"from_file\"\nsales_topic = \"file_sales\"\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        // What the shell running the tests exports must not decide them (e.g. KAFKA_BROKERS
        // pointing the integration tests at other services).
        for v in [
            "KAFKA_BROKERS",
            "CLICKHOUSE_KAFKA_BROKERS",
            "CLICKHOUSE_URL",
            "CLICKHOUSE_DATABASE",
            "SALES_TOPIC",
            "PIPELINE_CONFIG",
        ] {
            std::env::remove_var(v);
        }
        // Only this test sets this variable.
        std::env::set_var("WAREHOUSE_TOPIC", "env_wh");
        let c = resolve(&[
            "--config",
            f,
            "--kafka-brokers",
            "flag:1",
            "--warehouse-topic",
            "flag_wh",
        ])
        .unwrap();
        assert_eq!(c.kafka_brokers, "flag:1", "flag over file");
        assert_eq!(
            c.clickhouse_kafka_brokers, "flag:1",
            "follows --kafka-brokers"
        );
        assert_eq!(c.warehouse_topic, "flag_wh", "flag over env");
        let c = resolve(&["--config", f]).unwrap();
        assert_eq!(c.kafka_brokers, "file:1", "file over default");
        assert_eq!(c.database, "from_file");
        assert_eq!(c.warehouse_topic, "env_wh", "env over default");
        assert_eq!(c.sales_topic, "file_sales");
        assert_eq!(c.clickhouse_url, super::DEFAULT_CLICKHOUSE_URL, "default");
        std::env::remove_var("WAREHOUSE_TOPIC");

        std::fs::write(&file, "no_such_option = 1\n").unwrap();
        let e = resolve(&["--config", f]).unwrap_err();
        assert!(format!("{e:#}").contains("no_such_option"), "{e:#}");
        assert!(resolve(&["--clickhouse-url", "ftp://x"]).is_err());
        assert!(resolve(&["--database", "a-b"]).is_err());
    }

    #[test]
    fn topic_replication_is_the_brokers_unless_set() {
        let _env = env_lock();
        let dir = std::env::temp_dir().join(format!("pipeline-replication-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.toml");
        std::fs::write(&file, "topic_replication_factor = 3\n").unwrap();
        let f = file.to_str().unwrap();
        // Only this test sets this variable.
        std::env::remove_var("KAFKA_TOPIC_REPLICATION_FACTOR");
        let broker = kafka_admin::Replication::BrokerDefault;
        assert_eq!(resolve(&[]).unwrap().topic_replication(), broker);
        let factor = |args: &[&str]| resolve(args).unwrap().topic_replication();
        assert_eq!(
            factor(&["--config", f]),
            kafka_admin::Replication::Factor(3)
        );
        std::env::set_var("KAFKA_TOPIC_REPLICATION_FACTOR", "2");
        assert_eq!(
            factor(&["--config", f]),
            kafka_admin::Replication::Factor(2)
        );
        assert_eq!(
            factor(&["--config", f, "--topic-replication-factor", "1"]),
            kafka_admin::Replication::Factor(1)
        );
        std::env::remove_var("KAFKA_TOPIC_REPLICATION_FACTOR");
        for bad in ["0", "-1", "x", "40000"] {
            assert!(
                resolve(&["--topic-replication-factor", bad]).is_err(),
                "{bad} is refused"
            );
        }
        std::fs::write(&file, "topic_replication_factor = 0\n").unwrap();
        assert!(
            resolve(&["--config", f]).is_err(),
            "0 in the file is refused"
        );
    }

    #[test]
    fn the_password_is_never_printed() {
        let c = resolve(&["--clickhouse-password", "s3cret"]).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{:?}", c.clickhouse()).contains("s3cret"));
        let secret: super::Secret = "s3cret".parse().unwrap();
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(secret.expose(), "s3cret");
    }

    /// The file takes every option the flags take (they are one struct), with its type, and
    /// a flag replaces only its own key.
    #[test]
    fn every_option_can_come_from_the_file() {
        let _env = env_lock();
        for v in [
            "KAFKA_BROKERS",
            "SALES_TOPIC",
            "WAREHOUSE_TOPIC",
            "KAFKA_TOPIC_REPLICATION_FACTOR",
            "KAFKA_SECURITY_PROTOCOL",
            "KAFKA_SASL_MECHANISM",
            "KAFKA_SASL_USERNAME",
            "KAFKA_SASL_PASSWORD",
            "KAFKA_SSL_CA_LOCATION",
            "CLICKHOUSE_URL",
            "CLICKHOUSE_USER",
            "CLICKHOUSE_PASSWORD",
            "CLICKHOUSE_DATABASE",
            "CLICKHOUSE_KAFKA_BROKERS",
            "CLICKHOUSE_ENGINE_PROFILE",
            "PIPELINE_CLUSTER",
            "PIPELINE_SHARD_URLS",
            "PIPELINE_CONFIG",
        ] {
            std::env::remove_var(v);
        }
        let dir = std::env::temp_dir().join(format!("pipeline-every-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.toml");
        std::fs::write(
            &file,
            r#"kafka_brokers = "k1:9092,k2:9092"
sales_topic = "s"
warehouse_topic = "w"
topic_replication_factor = 2
kafka_security_protocol = "sasl_ssl"
kafka_sasl_mechanism = "SCRAM-SHA-512"
kafka_sasl_username = "ku"
kafka_sasl_password = "kafka-secret"
kafka_ssl_ca_location = "/ca.pem"
clickhouse_url = "https://ch:8443"
clickhouse_user = "cu"
clickhouse_password = "clickhouse-secret"
database = "db"
clickhouse_kafka_brokers = "inner:9092"
clickhouse_engine_profile = "engine"
cluster = "c"
shard_urls = "http://a:8123, http://b:8123"
"#,
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let c = resolve(&["--config", f, "--sales-topic", "from_flag"]).unwrap();
        assert_eq!(c.kafka_brokers, "k1:9092,k2:9092");
        assert_eq!(c.sales_topic, "from_flag", "the flag replaces its key");
        assert_eq!(c.warehouse_topic, "w", "and only its key");
        assert_eq!(c.topic_replication_factor, Some(2));
        let k = c.kafka_security.as_ref().unwrap();
        assert_eq!(k.protocol, "sasl_ssl");
        assert_eq!(k.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(k.sasl_username.as_deref(), Some("ku"));
        assert_eq!(k.sasl_password.as_deref(), Some("kafka-secret"));
        assert_eq!(c.kafka_ssl_ca_location.as_deref(), Some("/ca.pem"));
        assert_eq!(c.clickhouse_url, "https://ch:8443");
        assert_eq!(c.clickhouse_user.as_deref(), Some("cu"));
        assert_eq!(
            c.clickhouse_password.as_ref().map(|p| p.expose()),
            Some("clickhouse-secret")
        );
        assert_eq!(c.database, "db");
        assert_eq!(c.clickhouse_kafka_brokers, "inner:9092");
        assert_eq!(c.clickhouse_engine_profile, "engine");
        assert_eq!(c.cluster.as_deref(), Some("c"));
        assert_eq!(c.shard_urls, ["http://a:8123", "http://b:8123"]);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("kafka-secret") && !shown.contains("clickhouse-secret"),
            "{shown}"
        );
        std::fs::write(&file, "topic_replication_factor = \"two\"\n").unwrap();
        let e = resolve(&["--config", f]).unwrap_err();
        assert!(
            format!("{e:#}").contains("topic_replication_factor"),
            "a wrong type names its key: {e:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
