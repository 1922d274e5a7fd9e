//! The broker as every reader sees it, not only the publisher: how to reach it
//! ([`KafkaSettings`]), why a client could not ([`Cause`]), topics, and where a consumer
//! group stands on a topic ([`GroupPartition`], the one place lag is computed). Used by the
//! publisher, the schema step (positioning ClickHouse's groups), the guards, the audit, the
//! dashboard's health monitor and the benchmarks.

mod admin;
mod context;

pub use admin::{
    commit_offsets, committed_offsets, ensure_topics, ensure_topics_replicated, fetch_topics,
    group_partitions, group_partitions_on, partition_offsets, position_group,
    start_group_at_beginning, GroupPartition, PartitionOffsets, Positioning, Replication,
    TopicInfo, TopicSpec,
};
pub use context::{BrokerErrors, Cause};

use rdkafka::ClientConfig;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `message` is the client's error and, when librdkafka said it, why the connection
    /// failed (`cause`).
    #[error("Kafka broker {brokers} did not answer: {message}")]
    Unreachable {
        brokers: String,
        message: String,
        cause: Cause,
    },
    #[error("the broker refused to create topic {topic:?}: {message}")]
    TopicRefused { topic: String, message: String },
    #[error("Kafka client error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether the client's security settings kept it from the brokers: TLS or SASL
    /// refused ([`Cause::is_security`]), or librdkafka refused to make a client with the
    /// settings given (a CA file it cannot read, a mechanism it does not know).
    pub fn is_security(&self) -> bool {
        match self {
            Error::Unreachable { cause, .. } => cause.is_security(),
            Error::Kafka(rdkafka::error::KafkaError::ClientCreation(_)) => true,
            _ => false,
        }
    }
}

/// How to reach the brokers. `options` are extra librdkafka properties (for example
/// `security.protocol`, `sasl.mechanism`), passed through unchanged.
#[derive(Clone, Default)]
pub struct KafkaSettings {
    pub brokers: String,
    pub options: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaSettings {
    // Options may hold SASL passwords: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("options", &names)
            .finish()
    }
}

impl KafkaSettings {
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            options: Vec::new(),
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // Fail fast when a broker is down instead of librdkafka's long defaults.
        c.set("socket.connection.setup.timeout.ms", "3000");
        c.set("log_level", "3");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }
}
