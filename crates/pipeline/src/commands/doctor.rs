use std::process::ExitCode;

use clap::Args;

use crate::config::Config;
use crate::doctor::{report, run_checks, Options};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Skip the check that ClickHouse itself can read from the broker (it takes a few seconds).
    #[arg(long)]
    pub quick: bool,
}

pub async fn run(config: &Config, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let checks = run_checks(
        config,
        &Options {
            require_topics: true,
            check_clickhouse_to_broker: !args.quick,
        },
    )
    .await;
    Ok(if report(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
