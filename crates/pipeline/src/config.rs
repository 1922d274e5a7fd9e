//! Options shared by every subcommand. Each comes from, in order: the flag, its environment
//! variable, the `--config` TOML file, the default.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;

pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";
pub const DEFAULT_CLICKHOUSE_URL: &str = "http://127.0.0.1:8123";

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// TOML file with any of the options below (snake_case keys); flags and env win over it.
    #[arg(long, env = "PIPELINE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers, as this program reaches them [default: 127.0.0.1:9092].
    #[arg(
        long,
        env = "KAFKA_BROKERS",
        global = true,
        value_name = "HOST:PORT,..."
    )]
    pub kafka_brokers: Option<String>,
    /// The brokers as the ClickHouse server reaches them (differs in Docker) [default: --kafka-brokers].
    #[arg(
        long,
        env = "CLICKHOUSE_KAFKA_BROKERS",
        global = true,
        value_name = "HOST:PORT,..."
    )]
    pub clickhouse_kafka_brokers: Option<String>,
    /// ClickHouse HTTP interface [default: http://127.0.0.1:8123].
    #[arg(long, env = "CLICKHOUSE_URL", global = true, value_name = "URL")]
    pub clickhouse_url: Option<String>,
    /// ClickHouse user [default: the server's default user].
    #[arg(long, env = "CLICKHOUSE_USER", global = true)]
    pub clickhouse_user: Option<String>,
    /// ClickHouse password (never logged; prefer the environment variable).
    #[arg(
        long,
        env = "CLICKHOUSE_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub clickhouse_password: Option<String>,
    /// ClickHouse database holding the pipeline's tables [default: default].
    #[arg(long, env = "CLICKHOUSE_DATABASE", global = true)]
    pub database: Option<String>,
    /// ClickHouse before 21.7 only: the profile its Kafka engine runs with, the one the
    /// server's <default_profile> names; checked for the raw-line reader's CSV settings
    /// [default: default].
    #[arg(
        long,
        env = "CLICKHOUSE_ENGINE_PROFILE",
        global = true,
        value_name = "PROFILE"
    )]
    pub clickhouse_engine_profile: Option<String>,
    /// Sharded cluster mode: the cluster's name in the servers' `remote_servers`. Each shard
    /// gets its own tables and Kafka tables (one consumer group across shards); the page
    /// and the checks read Distributed tables in `<database>_all`. Apply the schema on
    /// every shard (`pipeline schema apply --clickhouse-url <shard>`).
    #[arg(long, env = "PIPELINE_CLUSTER", global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Cluster mode: every shard's HTTP URL, for the duplicate and rollup checks, which read
    /// each server's new parts [default: --clickhouse-url only].
    #[arg(
        long,
        env = "PIPELINE_SHARD_URLS",
        global = true,
        value_name = "URL,..."
    )]
    pub shard_urls: Option<String>,
    /// Kafka security protocol for every client and the ClickHouse Kafka engine:
    /// plaintext, ssl, sasl_plaintext or sasl_ssl [default: plaintext].
    #[arg(
        long,
        env = "KAFKA_SECURITY_PROTOCOL",
        global = true,
        value_name = "PROTOCOL"
    )]
    pub kafka_security_protocol: Option<String>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(
        long,
        env = "KAFKA_SASL_MECHANISM",
        global = true,
        value_name = "MECHANISM"
    )]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(long, env = "KAFKA_SASL_USERNAME", global = true, value_name = "USER")]
    pub kafka_sasl_username: Option<String>,
    /// SASL password (never logged; prefer the environment variable).
    #[arg(
        long,
        env = "KAFKA_SASL_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub kafka_sasl_password: Option<String>,
    /// CA certificate file for ssl/sasl_ssl, for this program's clients (the ClickHouse
    /// server takes its own from its config).
    #[arg(
        long,
        env = "KAFKA_SSL_CA_LOCATION",
        global = true,
        value_name = "FILE"
    )]
    pub kafka_ssl_ca_location: Option<String>,
    /// Replication factor of the topics this program creates; topics that exist are left as
    /// they are [default: the broker's own default.replication.factor].
    #[arg(
        long,
        env = "KAFKA_TOPIC_REPLICATION_FACTOR",
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(i16).range(1..)
    )]
    pub topic_replication_factor: Option<i16>,
    /// Topic of sales events [default: sales].
    #[arg(long, env = "SALES_TOPIC", global = true)]
    pub sales_topic: Option<String>,
    /// Topic of warehouse (stock movement) events [default: warehouse].
    #[arg(long, env = "WAREHOUSE_TOPIC", global = true)]
    pub warehouse_topic: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    kafka_brokers: Option<String>,
    clickhouse_kafka_brokers: Option<String>,
    clickhouse_url: Option<String>,
    clickhouse_user: Option<String>,
    clickhouse_password: Option<String>,
    database: Option<String>,
    clickhouse_engine_profile: Option<String>,
    cluster: Option<String>,
    shard_urls: Option<String>,
    kafka_security_protocol: Option<String>,
    kafka_sasl_mechanism: Option<String>,
    kafka_sasl_username: Option<String>,
    kafka_sasl_password: Option<String>,
    kafka_ssl_ca_location: Option<String>,
    topic_replication_factor: Option<i16>,
    sales_topic: Option<String>,
    warehouse_topic: Option<String>,
}

/// The options after resolution.
#[derive(Clone)]
pub struct Config {
    pub kafka_brokers: String,
    pub clickhouse_kafka_brokers: String,
    pub clickhouse_url: String,
    pub clickhouse_user: Option<String>,
    pub clickhouse_password: Option<String>,
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

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("kafka_brokers", &self.kafka_brokers)
            .field("clickhouse_kafka_brokers", &self.clickhouse_kafka_brokers)
            .field("clickhouse_url", &self.clickhouse_url)
            .field("clickhouse_user", &self.clickhouse_user)
            .field(
                "clickhouse_password",
                &self.clickhouse_password.as_ref().map(|_| "***"),
            )
            .field("database", &self.database)
            .field("clickhouse_engine_profile", &self.clickhouse_engine_profile)
            .field("cluster", &self.cluster)
            .field("shard_urls", &self.shard_urls)
            .field("kafka_security", &self.kafka_security)
            .field("kafka_ssl_ca_location", &self.kafka_ssl_ca_location)
            .field("topic_replication_factor", &self.topic_replication_factor)
            .field("sales_topic", &self.sales_topic)
            .field("warehouse_topic", &self.warehouse_topic)
            .finish()
    }
}

impl CommonArgs {
    pub fn resolve(&self) -> Result<Config> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("config file {} is not valid", path.display()))?
            }
            None => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: Option<String>| flag.clone().or(file);
        let kafka_brokers = pick(&self.kafka_brokers, file.kafka_brokers)
            .unwrap_or_else(|| DEFAULT_KAFKA_BROKERS.into());
        let config = Config {
            clickhouse_kafka_brokers: pick(
                &self.clickhouse_kafka_brokers,
                file.clickhouse_kafka_brokers,
            )
            .unwrap_or_else(|| kafka_brokers.clone()),
            kafka_brokers,
            clickhouse_url: pick(&self.clickhouse_url, file.clickhouse_url)
                .unwrap_or_else(|| DEFAULT_CLICKHOUSE_URL.into()),
            clickhouse_user: pick(&self.clickhouse_user, file.clickhouse_user),
            clickhouse_password: pick(&self.clickhouse_password, file.clickhouse_password),
            database: pick(&self.database, file.database).unwrap_or_else(|| "default".into()),
            clickhouse_engine_profile: pick(
                &self.clickhouse_engine_profile,
                file.clickhouse_engine_profile,
            )
            .unwrap_or_else(|| schema::DEFAULT_ENGINE_PROFILE.into()),
            cluster: pick(&self.cluster, file.cluster).filter(|c| !c.is_empty()),
            shard_urls: pick(&self.shard_urls, file.shard_urls)
                .map(|u| {
                    u.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            kafka_security: kafka_security(
                pick(&self.kafka_security_protocol, file.kafka_security_protocol),
                pick(&self.kafka_sasl_mechanism, file.kafka_sasl_mechanism),
                pick(&self.kafka_sasl_username, file.kafka_sasl_username),
                pick(&self.kafka_sasl_password, file.kafka_sasl_password),
            )?,
            kafka_ssl_ca_location: pick(&self.kafka_ssl_ca_location, file.kafka_ssl_ca_location),
            topic_replication_factor: self
                .topic_replication_factor
                .or(file.topic_replication_factor),
            sales_topic: pick(&self.sales_topic, file.sales_topic)
                .unwrap_or_else(|| "sales".into()),
            warehouse_topic: pick(&self.warehouse_topic, file.warehouse_topic)
                .unwrap_or_else(|| "warehouse".into()),
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
}

/// The Kafka security options, checked together: a SASL setting needs a sasl_* protocol,
/// and a user name goes with a password.
fn kafka_security(
    protocol: Option<String>,
    mechanism: Option<String>,
    username: Option<String>,
    password: Option<String>,
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
        sasl_password: password,
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
                self.clickhouse_password.clone(),
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

    pub fn kafka(&self) -> publish::KafkaSettings {
        let mut k = publish::KafkaSettings::new(&self.kafka_brokers);
        if let Some(s) = &self.kafka_security {
            k.options.extend(s.librdkafka_options());
        }
        if let Some(ca) = &self.kafka_ssl_ca_location {
            k.options.push(("ssl.ca.location".into(), ca.clone()));
        }
        k
    }

    /// How topics created here are replicated.
    pub fn topic_replication(&self) -> publish::Replication {
        match self.topic_replication_factor {
            Some(n) => publish::Replication::Factor(n),
            None => publish::Replication::BrokerDefault,
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
        let dir = std::env::temp_dir().join(format!("pipeline-replication-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.toml");
        std::fs::write(&file, "topic_replication_factor = 3\n").unwrap();
        let f = file.to_str().unwrap();
        // Only this test sets this variable.
        std::env::remove_var("KAFKA_TOPIC_REPLICATION_FACTOR");
        let broker = publish::Replication::BrokerDefault;
        assert_eq!(resolve(&[]).unwrap().topic_replication(), broker);
        let factor = |args: &[&str]| resolve(args).unwrap().topic_replication();
        assert_eq!(factor(&["--config", f]), publish::Replication::Factor(3));
        std::env::set_var("KAFKA_TOPIC_REPLICATION_FACTOR", "2");
        assert_eq!(factor(&["--config", f]), publish::Replication::Factor(2));
        assert_eq!(
            factor(&["--config", f, "--topic-replication-factor", "1"]),
            publish::Replication::Factor(1)
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
    }
}
