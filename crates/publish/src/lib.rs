//! The *publish* stage: a producer whose every delivery is checked, and the loop that
//! paces the generator into it. Topics, offsets and the client settings are in
//! `kafka-admin`, shared with every other reader of the broker.

mod producer;
mod run;

pub use kafka_admin::{Error, KafkaSettings, Result};
pub use producer::{producer_config, LatencyProbe, Publisher, TopicCounters, TopicLedger};
pub use run::{run, RunLimits, RunSummary, SALES, WAREHOUSE};
