use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use clickhouse_http::ServerVersion;
use schema::IngestState;

use crate::commands::generate::{ensure_topics, TopicArgs};
use crate::config::Config;

/// Topics first, then every consumer group positioned, then the schema: from the moment
/// the Kafka tables exist, no event on the topics can be skipped.
pub async fn apply(
    config: &Config,
    ingest: &IngestArgs,
    topics: &TopicArgs,
) -> anyhow::Result<schema::ApplyReport> {
    ensure_topics(config, topics).await?;
    let schema_config = ingest.schema_config(config);
    for topic in config.topics() {
        let (kafka, group, topic) = (
            config.kafka(),
            schema_config.group_for(topic),
            topic.to_string(),
        );
        tokio::task::spawn_blocking(move || {
            kafka_admin::start_group_at_beginning(
                &kafka,
                &group,
                &topic,
                std::time::Duration::from_secs(10),
            )
        })
        .await?
        .context("positioning ClickHouse's consumer group")?;
    }
    schema::apply(&config.clickhouse(), &schema_config)
        .await
        .context("applying the schema")
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "ClickHouse Kafka engine")]
pub struct IngestArgs {
    /// Consumers per Kafka table (kafka_num_consumers); at most the topic's partitions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub kafka_consumers: u32,
    /// Rows per block the Kafka engine reads before it writes (kafka_max_block_size)
    /// [default: 65536; on ClickHouse 18.16 under `up`, half a second of the generator's rate].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub kafka_max_block_size: Option<u32>,
    /// Current ClickHouse only: one thread per consumer (kafka_thread_per_consumer).
    #[arg(long)]
    pub kafka_thread_per_consumer: bool,
    /// ClickHouse 18.16 only, when no block size is given: one sized for a rate (`up`).
    #[arg(skip)]
    pub block_size_for_rate: Option<u32>,
}

pub const DEFAULT_MAX_BLOCK_SIZE: u32 = 65_536;

/// A block that fills in about half a second at `rate` events/s.
pub fn block_size_for_rate(rate: f64) -> u32 {
    (rate / 2.0)
        .ceil()
        .clamp(1.0, DEFAULT_MAX_BLOCK_SIZE as f64) as u32
}

impl IngestArgs {
    /// Without an explicit block size, ClickHouse 18.16 gets one that fills in about half a
    /// second at `rate`.
    ///
    /// Why: 18.16's Kafka engine writes only when a block is full or the topic goes quiet
    /// for 500 ms, so under a steady stream a 65536-row block would keep rows out of sight
    /// for minutes. Current servers flush on time (kafka_flush_interval_ms), so their DDL
    /// never depends on the rate: a new rate must not re-create their Kafka tables.
    pub fn sized_for_rate(mut self, rate: f64) -> Self {
        if rate > 0.0 {
            self.block_size_for_rate = Some(block_size_for_rate(rate));
        }
        self
    }

    pub fn schema_config(&self, config: &Config) -> schema::SchemaConfig {
        let mut s = config.schema();
        s.num_consumers = self.kafka_consumers;
        s.max_block_size = self.kafka_max_block_size.unwrap_or(DEFAULT_MAX_BLOCK_SIZE);
        s.unflushed_block_size = self.kafka_max_block_size.or(self.block_size_for_rate);
        s.thread_per_consumer = self.kafka_thread_per_consumer;
        s
    }
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Create or migrate the tables and (re)create the Kafka tables and views. Idempotent.
    Apply {
        #[command(flatten)]
        ingest: IngestArgs,
        #[command(flatten)]
        topics: TopicArgs,
    },
    /// Print the DDL for a server version (without a server) or for the connected server.
    Print {
        /// ClickHouse version to render for, e.g. 25.8 or 18.16 [default: ask the server].
        #[arg(long, value_name = "VERSION")]
        for_version: Option<ServerVersion>,
        /// With --cluster: render for shards with replicas (ON CLUSTER, Replicated tables),
        /// as `apply` does when the cluster has them.
        #[arg(long)]
        replicated: bool,
        #[command(flatten)]
        ingest: IngestArgs,
    },
    /// Show applied and pending migrations and whether each ingest object is current.
    Status(IngestArgs),
}

pub async fn run(config: &Config, cmd: SchemaCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SchemaCommand::Apply { ingest, topics } => {
            let report = apply(config, &ingest, &topics).await?;
            println!(
                "ClickHouse {} · database {}",
                report.server, config.database
            );
            if report.changed_nothing() {
                println!("schema is current; nothing changed");
            }
            for (v, name) in &report.migrations_applied {
                println!("applied migration {v}: {name}");
            }
            for name in &report.ingest_created {
                println!("created {name}");
            }
            for name in &report.distributed_created {
                println!(
                    "created {}.{name} (Distributed over cluster {})",
                    schema::distributed_database(&config.database),
                    config.cluster.as_deref().unwrap_or("")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SchemaCommand::Print {
            for_version,
            replicated,
            ingest,
        } => {
            if replicated && config.cluster.is_none() {
                anyhow::bail!("--replicated renders a cluster's schema: it needs --cluster NAME");
            }
            let version = match for_version {
                Some(v) => v,
                None => config.clickhouse().version().await.context(
                    "asking the server for its version (or pass --for-version to print without a server)",
                )?,
            };
            let mut schema = ingest.schema_config(config);
            schema.replicated = replicated;
            print!("{}", schema::script(&schema, version)?);
            Ok(ExitCode::SUCCESS)
        }
        SchemaCommand::Status(ingest) => {
            let s = schema::status(&config.clickhouse(), &ingest.schema_config(config)).await?;
            println!(
                "ClickHouse {} · database {} ({})",
                s.server,
                config.database,
                if s.database_exists {
                    "exists"
                } else {
                    "missing"
                }
            );
            println!("migrations applied: {:?}", s.applied);
            for (v, name) in &s.pending {
                println!("migration pending: {v} {name}");
            }
            for (name, state) in &s.ingest {
                let state = match state {
                    IngestState::Current => "current",
                    IngestState::Missing => "missing",
                    IngestState::Outdated => "outdated (apply re-creates it)",
                };
                println!("{name:<20} {state}");
            }
            Ok(if s.is_current() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
