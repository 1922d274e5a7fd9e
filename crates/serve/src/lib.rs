//! The *serve* stage: an HTTP server with the dashboard page (embedded, nothing from a CDN),
//! the original demo's JSON API, the new overview and health endpoints, and a Server-Sent
//! Events stream that pushes a full snapshot every second.

mod answers;
mod api;
mod assets;
mod auth;
mod health;
mod metrics;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use kafka_admin::KafkaSettings;
use publish::{LatencyProbe, TopicCounters};

pub use api::router;
pub use health::{HealthMonitor, HealthSnapshot};

/// One topic as the health panel follows it: the topic, the table it lands in, and the
/// ClickHouse consumer group that reads it.
#[derive(Debug, Clone)]
pub struct FollowedTopic {
    pub topic: String,
    pub table: String,
    pub group: String,
}

/// The generator running in this process (under `pipeline up`), if any.
#[derive(Clone)]
pub struct LocalGenerator {
    pub counters: Vec<Arc<TopicCounters>>,
    pub probe: Arc<LatencyProbe>,
    pub running: Arc<AtomicBool>,
}

#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database: String,
    /// Where the page reads: `database`, or in cluster mode its Distributed tables.
    pub query_database: String,
    pub topics: Vec<FollowedTopic>,
    pub kafka: KafkaSettings,
    /// When set, the page and API answer only requests that present it.
    pub auth_token: Option<String>,
    /// The guards running in this process (under `pipeline up`), if any: `/api/health`
    /// lists them and `/metrics` counts their passes, errors and work.
    pub guards: Option<Arc<reconcile::GuardStats>>,
}

/// Binds and serves until `stop` is cancelled; the health monitor stops with it. A port in
/// use is an error naming it.
pub async fn serve(
    config: ServeConfig,
    clickhouse: clickhouse_http::Client,
    generator: Option<LocalGenerator>,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
        })?;
    let app = build(config, clickhouse, generator, stop.clone()).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// The client every query of the page and the API goes through: `clickhouse` with
/// readonly=2 (reads, and settings changes such as output formats; no writes, no DDL), in
/// the database the page reads.
pub fn page_client(
    clickhouse: &clickhouse_http::Client,
    database: &str,
) -> clickhouse_http::Client {
    clickhouse
        .clone()
        .with_setting("readonly", 2)
        .with_database(database)
}

/// The router with its state and the health monitor started (until `stop` is cancelled).
pub async fn build(
    config: ServeConfig,
    clickhouse: clickhouse_http::Client,
    generator: Option<LocalGenerator>,
    stop: CancellationToken,
) -> Result<axum::Router, std::io::Error> {
    // Every statement serve runs is logged (as current servers do by default) and named
    // `serve.<pid>.<start>.<n>` in system.query_log, so its load on ClickHouse can be
    // measured apart from ingestion's.
    let started = answers::unix_ms();
    let reader = page_client(&clickhouse, &config.query_database)
        .with_setting("log_queries", 1)
        .with_query_id_prefix(&format!("serve.{}.{started}.", std::process::id()));
    let queries = query::Queries::new(reader, &config.query_database)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?
        .distributed(config.query_database != config.database);
    let monitor = HealthMonitor::start(
        queries.clone(),
        config.kafka.clone(),
        config.topics.clone(),
        generator,
        config.guards.clone(),
        stop,
    )
    .await;
    let app = router(api::AppState::new(queries, monitor));
    Ok(match config.auth_token.filter(|t| !t.is_empty()) {
        Some(t) => app.layer(axum::middleware::from_fn_with_state(
            auth::Token(t.into()),
            auth::require,
        )),
        None => app,
    })
}
