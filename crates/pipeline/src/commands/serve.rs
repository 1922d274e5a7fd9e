use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serve::{FollowedTopic, LocalGenerator, ServeConfig};
use tokio_util::sync::CancellationToken;

use crate::commands::generate::stop_on_signal;
use crate::config::{Config, Secret};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Dashboard")]
pub struct ServeArgs {
    /// Address of the dashboard and its API; loopback unless you mean to expose it.
    #[arg(long, env = "PIPELINE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Require this token for the page and API (open once as /?token=…); none by default.
    #[arg(
        long,
        env = "PIPELINE_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<Secret>,
}

pub fn serve_config(config: &Config, args: &ServeArgs) -> ServeConfig {
    let schema = config.schema();
    let follow = |topic: &str, table: &str| FollowedTopic {
        topic: topic.to_string(),
        table: table.to_string(),
        group: schema.group_for(topic),
    };
    ServeConfig {
        listen: args.listen,
        database: config.database.clone(),
        query_database: config.query_database(),
        topics: vec![
            follow(&config.sales_topic, "sales"),
            follow(&config.warehouse_topic, "stock_movements"),
        ],
        kafka: config.kafka(),
        auth_token: args.auth_token.as_ref().map(|t| t.expose().to_string()),
        guards: None,
    }
}

/// Starts the server in the background; it stops when `stop` is cancelled. `guards`: the guards
/// of `pipeline up`, reported by `/api/health` and `/metrics`.
pub fn spawn(
    config: &Config,
    args: &ServeArgs,
    generator: Option<LocalGenerator>,
    guards: Option<Arc<reconcile::GuardStats>>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let cfg = ServeConfig {
        guards,
        ..serve_config(config, args)
    };
    let ch = config.clickhouse();
    tokio::spawn(serve::serve(cfg, ch, generator, stop))
}

pub async fn run(config: &Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let stop = stop_on_signal();
    println!("dashboard on http://{}/ (Ctrl-C stops)", args.listen);
    spawn(config, &args, None, None, stop).await??;
    Ok(ExitCode::SUCCESS)
}
