//! `pipeline bench`: the measured phases of `crates/bench`, side by side in one run; a
//! table on stdout and the figures as JSON.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bench::ingest::{IngestTarget, SchemaApply};
use clap::{Args, ValueEnum};

use crate::commands::generate::TopicArgs;
use crate::commands::schema::{block_size_for_rate, IngestArgs, DEFAULT_MAX_BLOCK_SIZE};
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// Generator + publisher against raw librdkafka, on a producer-only broker.
    Ceiling,
    /// ClickHouse's Kafka engine landing a backlog, per number of consumers.
    Ingest,
    /// The dashboard API's latency per endpoint at --api-sizes events (bulk-loaded), beside
    /// the original demo's SQL on the raw tables, and the server's RSS. Not in the default
    /// list: 100M events take minutes to load and ~10 GB of disk.
    Api,
    /// Broker acknowledgement → row queryable, p50/p95/p99 at steady rates.
    Latency,
    /// The dashboard server under --viewers-clients SSE viewers and --viewers-http API
    /// connections on a bulk-loaded database (--viewers-events): snapshots per viewer,
    /// errors, API latency, the server's RSS and CPU, and the ClickHouse statements it runs
    /// per second with one viewer and with all of them.
    Viewers,
    /// The Kafka engine with one trivial view (no parsing) on the ingest backlog: the
    /// ceiling, beside the full schema on the same backlog (ours / ceiling); chDB's parse
    /// cost for current ClickHouse with --chdb-python.
    EngineCeiling,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events in the ingest backlog.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Events per ceiling run (a memory:// broker takes ~400k/s here: 1M is ~2.5 s a run).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ceiling_events: u64,
    /// Runs of each ceiling side, alternating a/b; the table quotes medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Phases to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ceiling,ingest"
    )]
    pub phases: Vec<Phase>,
    /// Brokers for the ceiling. Without it the bench starts its own tansu with memory://
    /// storage on 127.0.0.1:--ceiling-port and stops it at the end.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub ceiling_brokers: Option<String>,
    /// Port of the bench's own ceiling broker.
    #[arg(long, default_value_t = 19092)]
    pub ceiling_port: u16,
    /// The tansu binary for the ceiling broker [default: where `scripts/services` installs it].
    #[arg(long, env = "TANSU_BIN", value_name = "FILE")]
    pub tansu_bin: Option<PathBuf>,
    /// Consumers per Kafka table to measure ingest with, one fresh database each.
    #[arg(long, value_delimiter = ',', default_value = "1,2",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub consumers: Vec<u32>,
    /// Partitions of each bench topic (at least the most --consumers).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub partitions: i32,
    /// kafka_max_block_size of the ingest databases (that of `pipeline schema apply`).
    #[arg(long, default_value_t = DEFAULT_MAX_BLOCK_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub kafka_max_block_size: u32,
    /// Seed of the events (both phases).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Give up on an ingest run after this long, e.g. 5m.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub ingest_timeout: Duration,
    /// End an ingest run whose rows stopped arriving short of the total after this long.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub ingest_stall: Duration,
    /// Steady rates (events/s) of the latency phase, each on a fresh database and topics
    /// with `pipeline up`'s block size for it (half a second of the rate).
    #[arg(long, value_delimiter = ',', default_value = "10,1000,10000",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub latency_rates: Vec<u32>,
    /// Measured window at each latency rate, after the warm-up.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub latency_duration: Duration,
    /// Not measured at each latency rate: from the first row seen to the window's start.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub latency_warmup: Duration,
    /// Events bulk-loaded for the api phase, one fresh database each.
    #[arg(long, value_delimiter = ',', default_value = "10000000,100000000",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub api_sizes: Vec<u64>,
    /// Timed sequential requests per endpoint (and per original query) at each api size.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_requests: u32,
    /// Untimed requests per endpoint before them.
    #[arg(long, default_value_t = 20)]
    pub api_warmup: u32,
    /// Stop timing an endpoint or query after this long at one size (at least 5 requests).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub api_budget: Duration,
    /// Events per INSERT of the api load (and per rollup back-fill window).
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub api_load_chunk: u64,
    /// Wait at most this long for the api load's merges to finish before measuring.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub api_settle: Duration,
    /// Keep each api database after measuring (to profile its queries by hand).
    #[arg(long)]
    pub api_keep: bool,
    /// Events bulk-loaded for the viewers phase (as the api phase loads them).
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub viewers_events: u64,
    /// SSE clients on /api/stream in the viewers phase.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub viewers_clients: u32,
    /// The viewers phase's main run: all SSE clients plus the HTTP load.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub viewers_duration: Duration,
    /// Each other window of the viewers phase: idle, one viewer per range, all viewers alone.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub viewers_window: Duration,
    /// Ranges one viewer is measured on, one after another (the cost of a snapshot per range).
    #[arg(long, value_delimiter = ',', default_value = "1h,15m,24h,7d")]
    pub viewers_ranges: Vec<query::Range>,
    /// Connections of the viewers phase's HTTP load (/api/overview and /api/sales, back to back).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub viewers_http: u32,
    /// Keep the viewers database after measuring.
    #[arg(long)]
    pub viewers_keep: bool,
    /// Rounds of the engine-ceiling phase (its variants alternate; the table quotes medians).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub engine_runs: u32,
    /// Trivial views per Kafka table of the engine-ceiling phase's many-views variant; 0 (the
    /// default) leaves it out: on 18.16 it stalled and dropping it aborted the server.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub engine_views: u32,
    /// A Python with chDB, for the engine-ceiling phase's parse cost on current ClickHouse
    /// (tests/modern_clickhouse/parse_cost.py); without it that line is not measured.
    #[arg(long, env = "CHDB_PYTHON", value_name = "FILE")]
    pub chdb_python: Option<PathBuf>,
    /// Write the JSON here [default: pipeline-bench-<run id>.json in the temp directory].
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

/// `pipeline schema apply` for one ingest target: the same code, another database,
/// other topics, its own consumers.
struct Applier<'c> {
    config: &'c Config,
}

impl SchemaApply for Applier<'_> {
    fn apply<'a>(
        &'a self,
        t: &'a IngestTarget,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>> {
        Box::pin(async move {
            let mut config = self.config.clone();
            config.database = t.database.clone();
            config.sales_topic = t.sales_topic.clone();
            config.warehouse_topic = t.warehouse_topic.clone();
            let ingest = IngestArgs {
                kafka_consumers: t.consumers,
                kafka_max_block_size: Some(t.max_block_size),
                kafka_thread_per_consumer: false,
                block_size_for_rate: None,
            };
            let topics = TopicArgs {
                partitions: t.partitions,
            };
            crate::commands::schema::apply(&config, &ingest, &topics)
                .await
                .map(drop)
        })
    }
}

/// Fails with what to do when a service the phases need does not answer.
async fn check_services(config: &Config) -> anyhow::Result<()> {
    config.clickhouse().ping().await.with_context(|| {
        format!(
            "ClickHouse at {} does not answer (`scripts/services start` starts it)",
            config.clickhouse_url
        )
    })?;
    let kafka = config.kafka();
    tokio::task::spawn_blocking(move || {
        kafka_admin::fetch_topics(&kafka, &[], Duration::from_secs(5))
    })
    .await?
    .with_context(|| {
        format!(
            "the Kafka broker at {} does not answer (`scripts/services start` starts it)",
            config.kafka_brokers
        )
    })?;
    Ok(())
}

pub async fn run(config: &Config, args: BenchArgs) -> anyhow::Result<ExitCode> {
    let run_id = bench::run_id();
    let started_at = bench::now_rfc3339();
    if args.phases.contains(&Phase::Ingest) {
        check_services(config).await?;
        let most = args.consumers.iter().copied().max().unwrap_or(1);
        if args.partitions < most as i32 {
            anyhow::bail!(
                "--partitions {} is fewer than --consumers {most}",
                args.partitions
            );
        }
    }
    if args.phases.contains(&Phase::Latency) && !args.phases.contains(&Phase::Ingest) {
        check_services(config).await?;
    }
    if [Phase::Api, Phase::Viewers, Phase::EngineCeiling]
        .iter()
        .any(|p| args.phases.contains(p))
    {
        check_services(config).await?;
    }
    let mut reports = Vec::new();
    for phase in &args.phases {
        let report = match phase {
            Phase::Ceiling => ceiling(&args, &run_id).await?,
            Phase::Ingest => ingest(config, &args, &run_id).await?,
            Phase::Api => api(config, &args, &run_id).await?,
            Phase::Latency => latency(config, &args, &run_id).await?,
            Phase::Viewers => viewers(config, &args, &run_id).await?,
            Phase::EngineCeiling => engine_ceiling(config, &args, &run_id).await?,
        };
        println!("{}", report.render());
        reports.push(report);
    }
    let phases: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|r| (r.name.to_string(), r.json.clone()))
        .collect();
    let json = serde_json::json!({
        "bench_version": 1,
        "run_id": run_id,
        "started_at": started_at,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "count_allocations": bench::measure::allocations().is_some(),
        "phases": phases,
    });
    let path = args
        .json_out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pipeline-bench-{run_id}.json")));
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("JSON: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

async fn ceiling(args: &BenchArgs, run_id: &str) -> anyhow::Result<bench::PhaseReport> {
    let events = args.ceiling_events;
    let (broker, brokers, label) = match &args.ceiling_brokers {
        Some(b) => (
            None,
            b.clone(),
            format!("{b} (given with --ceiling-brokers)"),
        ),
        None => {
            let bin = args
                .tansu_bin
                .clone()
                .unwrap_or_else(bench::broker::default_tansu_binary);
            let port = args.ceiling_port;
            let broker =
                tokio::task::spawn_blocking(move || bench::broker::MemoryBroker::start(&bin, port))
                    .await?
                    .context("starting the ceiling broker")?;
            let brokers = broker.brokers();
            let label = format!(
                "tansu memory:// on {brokers}, pid {} (started by the bench)",
                broker.pid()
            );
            (Some(broker), brokers, label)
        }
    };
    let opts = bench::ceiling::CeilingOptions {
        brokers,
        broker_label: label,
        broker_pid: broker.as_ref().map(|b| b.pid()),
        events,
        runs: args.runs,
        seed: args.seed,
        partitions: args.partitions,
        topic_prefix: format!("bench_ceiling_{run_id}"),
    };
    let report = bench::ceiling::run(&opts).await;
    // Stopped before the next phase, whatever happened.
    if let Some(b) = broker {
        tokio::task::spawn_blocking(move || drop(b)).await?;
    }
    report
}

/// What the bench's databases are named after: the configured database, so a test's own
/// names keep its bench apart from others ("bench" for the default database).
fn bench_prefix(config: &Config) -> String {
    if config.database == "default" {
        "bench".to_string()
    } else {
        config.database.clone()
    }
}

async fn ingest(
    config: &Config,
    args: &BenchArgs,
    run_id: &str,
) -> anyhow::Result<bench::PhaseReport> {
    let opts = ingest_options(config, args, run_id, "");
    bench::ingest::run(&opts, &Applier { config }).await
}

/// The ingest backlog's options; `tag` keeps another phase's topics and databases apart.
fn ingest_options(
    config: &Config,
    args: &BenchArgs,
    run_id: &str,
    tag: &str,
) -> bench::ingest::IngestOptions {
    let prefix = bench_prefix(config);
    bench::ingest::IngestOptions {
        kafka: config.kafka(),
        clickhouse: config.clickhouse().with_database("system"),
        events: args.events,
        seed: args.seed,
        partitions: args.partitions,
        consumers: args.consumers.clone(),
        max_block_size: args.kafka_max_block_size,
        database_prefix: format!("{prefix}_bench_{run_id}{tag}"),
        sales_topic: format!("{}_bench_{run_id}{tag}", config.sales_topic),
        warehouse_topic: format!("{}_bench_{run_id}{tag}", config.warehouse_topic),
        timeout: args.ingest_timeout,
        stall: args.ingest_stall,
    }
}

/// Where `scripts/test` and BENCHMARKS find chDB's parse-cost script (in the source tree).
fn parse_cost_script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/modern_clickhouse/parse_cost.py"
    ))
}

async fn engine_ceiling(
    config: &Config,
    args: &BenchArgs,
    run_id: &str,
) -> anyhow::Result<bench::PhaseReport> {
    let ingest = ingest_options(config, args, run_id, "_eng");
    let chdb = match &args.chdb_python {
        Some(python) => {
            let version: clickhouse_http::ServerVersion =
                "25.8".parse().map_err(anyhow::Error::msg)?;
            let schema = schema::SchemaConfig::new("bench_chdb", &config.clickhouse_kafka_brokers);
            Some(bench::engine_ceiling::Chdb {
                python: python.clone(),
                script: parse_cost_script(),
                ddl: schema::script(&schema, version)?,
            })
        }
        None => None,
    };
    let opts = bench::engine_ceiling::EngineCeilingOptions {
        ingest,
        clickhouse_brokers: config.clickhouse_kafka_brokers.clone(),
        views: args.engine_views,
        runs: args.engine_runs,
        chdb,
    };
    bench::engine_ceiling::run(&opts, &Applier { config }).await
}

async fn latency(
    config: &Config,
    args: &BenchArgs,
    run_id: &str,
) -> anyhow::Result<bench::PhaseReport> {
    let prefix = bench_prefix(config);
    // The block size `pipeline up` gives its own generator's rate.
    let rates = args
        .latency_rates
        .iter()
        .map(|&rate| bench::latency::LatencyRate {
            rate,
            max_block_size: block_size_for_rate(rate as f64),
        })
        .collect();
    let opts = bench::latency::LatencyOptions {
        kafka: config.kafka(),
        clickhouse: config.clickhouse().with_database("system"),
        rates,
        duration: args.latency_duration,
        warmup: args.latency_warmup,
        seed: args.seed,
        partitions: args.partitions,
        database_prefix: format!("{prefix}_bench_{run_id}_lat"),
        sales_topic: format!("{}_bench_{run_id}_lat", config.sales_topic),
        warehouse_topic: format!("{}_bench_{run_id}_lat", config.warehouse_topic),
        poll: Duration::from_millis(50),
        first_row_timeout: Duration::from_secs(60),
        settle: Duration::from_secs(30),
    };
    bench::latency::run(&opts, &Applier { config }).await
}

/// `pipeline serve` for an api database: this binary, the resolved connection settings
/// (through the environment, so a password stays out of the process list), no auth token.
/// With `log_queries`, the ClickHouse URL carries `log_queries=1`: 18.16 writes a statement
/// to system.query_log only with it, and the server's profile does not set it.
struct Serve<'c> {
    config: &'c Config,
    log_queries: bool,
}

impl Serve<'_> {
    fn clickhouse_url(&self) -> String {
        let url = &self.config.clickhouse_url;
        if !self.log_queries {
            return url.clone();
        }
        let sep = if url.contains('?') {
            "&"
        } else if url.ends_with('/') {
            "?"
        } else {
            "/?"
        };
        format!("{url}{sep}log_queries=1")
    }
}

impl bench::api::ServeCommand for Serve<'_> {
    fn command(&self, database: &str, listen: std::net::SocketAddr) -> std::process::Command {
        let c = self.config;
        let exe = std::env::current_exe().unwrap_or_else(|_| "pipeline".into());
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["serve", "--listen", &listen.to_string()])
            .env("KAFKA_BROKERS", &c.kafka_brokers)
            .env("CLICKHOUSE_KAFKA_BROKERS", &c.clickhouse_kafka_brokers)
            .env("CLICKHOUSE_URL", self.clickhouse_url())
            .env("CLICKHOUSE_DATABASE", database)
            .env("SALES_TOPIC", &c.sales_topic)
            .env("WAREHOUSE_TOPIC", &c.warehouse_topic)
            .env("PIPELINE_LOG", "warn")
            .env_remove("PIPELINE_AUTH_TOKEN")
            .env_remove("PIPELINE_LISTEN");
        match &c.clickhouse_user {
            Some(u) => cmd.env("CLICKHOUSE_USER", u),
            None => cmd.env_remove("CLICKHOUSE_USER"),
        };
        match &c.clickhouse_password {
            Some(p) => cmd.env("CLICKHOUSE_PASSWORD", p.expose()),
            None => cmd.env_remove("CLICKHOUSE_PASSWORD"),
        };
        cmd
    }
}

async fn api(
    config: &Config,
    args: &BenchArgs,
    run_id: &str,
) -> anyhow::Result<bench::PhaseReport> {
    let prefix = bench_prefix(config);
    // The server follows the api topics; their own names keep them apart from the others'.
    let mut serve_config = config.clone();
    serve_config.sales_topic = format!("{}_bench_{run_id}_api", config.sales_topic);
    serve_config.warehouse_topic = format!("{}_bench_{run_id}_api", config.warehouse_topic);
    let opts = bench::api::ApiOptions {
        clickhouse: config.clickhouse().with_database("system"),
        sizes: args.api_sizes.clone(),
        requests: args.api_requests,
        warmup: args.api_warmup,
        budget: args.api_budget,
        load_chunk: args.api_load_chunk,
        settle: args.api_settle,
        database_prefix: format!("{prefix}_bench_{run_id}_api"),
        keep: args.api_keep,
        sales_topic: serve_config.sales_topic.clone(),
        warehouse_topic: serve_config.warehouse_topic.clone(),
    };
    bench::api::run(
        &opts,
        &Applier { config },
        &Serve {
            config: &serve_config,
            log_queries: false,
        },
    )
    .await
}

async fn viewers(
    config: &Config,
    args: &BenchArgs,
    run_id: &str,
) -> anyhow::Result<bench::PhaseReport> {
    let prefix = bench_prefix(config);
    let mut serve_config = config.clone();
    serve_config.sales_topic = format!("{}_bench_{run_id}_view", config.sales_topic);
    serve_config.warehouse_topic = format!("{}_bench_{run_id}_view", config.warehouse_topic);
    let opts = bench::viewers::ViewersOptions {
        clickhouse: config.clickhouse().with_database("system"),
        events: args.viewers_events,
        clients: args.viewers_clients,
        duration: args.viewers_duration,
        window: args.viewers_window,
        ranges: args.viewers_ranges.clone(),
        http_connections: args.viewers_http,
        load_chunk: args.api_load_chunk,
        settle: args.api_settle,
        database_prefix: format!("{prefix}_bench_{run_id}_view"),
        keep: args.viewers_keep,
        sales_topic: serve_config.sales_topic.clone(),
        warehouse_topic: serve_config.warehouse_topic.clone(),
    };
    bench::viewers::run(
        &opts,
        &Applier { config },
        &Serve {
            config: &serve_config,
            log_queries: true,
        },
    )
    .await
}
