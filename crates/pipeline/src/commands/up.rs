use std::process::ExitCode;

use clap::Args;
use publish::RunLimits;

use crate::commands::generate::{print_summary, stop_on_signal, EventArgs, TopicArgs};
use crate::commands::schema::IngestArgs;
use crate::config::Config;
use crate::doctor::{report, run_checks, Options};

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub topics: TopicArgs,
    /// Do not generate events (consume and serve what others produce).
    #[arg(long)]
    pub no_generate: bool,
}

pub async fn run(config: &Config, args: UpArgs) -> anyhow::Result<ExitCode> {
    println!("checking the services…");
    let checks = run_checks(
        config,
        &Options {
            require_topics: false,
            check_clickhouse_to_broker: true,
        },
    )
    .await;
    if !report(&checks) {
        anyhow::bail!("the checks above failed; fix them and run `pipeline up` again");
    }
    let applied = crate::commands::schema::apply(config, &args.ingest, &args.topics).await?;
    let publisher = publish::Publisher::new(&config.kafka(), &config.topics())?;
    println!(
        "schema: ClickHouse {}, {} migration(s) applied, {} ingest object(s) created",
        applied.server,
        applied.migrations_applied.len(),
        applied.ingest_created.len()
    );
    let stop = stop_on_signal();
    if args.no_generate {
        println!("not generating; Ctrl-C stops");
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "generating {} event(s)/s into {:?}; Ctrl-C stops",
        args.events.rate,
        config.topics()
    );
    let mut generator = args.events.generator()?;
    let limits = RunLimits {
        rate: args.events.rate,
        count: None,
        duration: None,
    };
    let summary = tokio::task::spawn_blocking(move || {
        publish::run(&mut generator, &publisher, &limits, &stop, &mut |_| {})
    })
    .await??;
    print_summary(&summary, false);
    Ok(if summary.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
