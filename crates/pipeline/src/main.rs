//! `pipeline`: one binary for the whole flow. Each subcommand lives in `commands/`.

mod commands;
mod config;
mod doctor;

use clap::{Parser, Subcommand};

use config::CommonArgs;

#[derive(Debug, Parser)]
#[command(
    name = "pipeline",
    version,
    about = "Retail events → Kafka → ClickHouse → live dashboard"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that the broker and ClickHouse answer and can reach each other.
    Doctor(commands::doctor::DoctorArgs),
    /// Produce seed-compatible sales and warehouse events into Kafka.
    Generate(commands::generate::GenerateArgs),
    /// Apply, print or inspect the ClickHouse schema (Kafka tables, views, target tables).
    #[command(subcommand)]
    Schema(commands::schema::SchemaCommand),
    /// Compare what the broker holds with what ClickHouse holds, per topic; exit 1 if any is missing.
    Audit(commands::audit::AuditArgs),
    /// Serve the live dashboard and its JSON API.
    Serve(commands::serve::ServeArgs),
    /// Everything at once: checks, topics, schema, the dashboard, and events until Ctrl-C.
    Up(commands::up::UpArgs),
    /// Measure: the generator's ceiling against raw librdkafka, and ClickHouse's ingest rate.
    Bench(Box<commands::bench::BenchArgs>),
    /// Messages refused into `dead_letter`: list, show, export, replay (fixed or as they
    /// were) and purge. A dead letter's id is TOPIC:PARTITION:OFFSET, its message's place
    /// on the broker (unique per message).
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(commands::dead_letters::DeadLettersCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PIPELINE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let result = runtime.block_on(async {
        let config = cli.common.resolve()?;
        match cli.command {
            Command::Doctor(args) => commands::doctor::run(&config, args).await,
            Command::Generate(args) => commands::generate::run(&config, args).await,
            Command::Schema(cmd) => commands::schema::run(&config, cmd).await,
            Command::Audit(args) => commands::audit::run(&config, args).await,
            Command::Serve(args) => commands::serve::run(&config, args).await,
            Command::Up(args) => commands::up::run(&config, args).await,
            Command::Bench(args) => commands::bench::run(&config, *args).await,
            Command::DeadLetters(cmd) => commands::dead_letters::run(&config, cmd).await,
        }
    });
    // A run stopped by a signal may leave a blocking call behind (a broker request, up to
    // its timeout): give it a moment, not its whole timeout.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `up --help` lists each option under the heading of what it is about.
    #[test]
    fn help_groups_options_under_headings() {
        let mut cli = super::Cli::command();
        // Global options reach the subcommands when the command is built.
        cli.build();
        let up = cli.find_subcommand_mut("up").expect("up exists");
        let help = up.render_long_help().to_string();
        let heading_of = |flag: &str| {
            let at = help
                .find(&format!("--{flag} "))
                .or_else(|| help.find(&format!("--{flag}\n")))
                .unwrap_or_else(|| panic!("--{flag} is in the help:\n{help}"));
            help[..at]
                .lines()
                .rev()
                .find(|l| !l.starts_with(' ') && l.ends_with(':'))
                .unwrap_or_default()
                .to_string()
        };
        for (flag, heading) in [
            ("kafka-brokers", "Kafka:"),
            ("kafka-sasl-password", "Kafka:"),
            ("partitions", "Kafka:"),
            ("clickhouse-url", "ClickHouse:"),
            ("clickhouse-password", "ClickHouse:"),
            ("database", "ClickHouse:"),
            ("kafka-max-block-size", "ClickHouse Kafka engine:"),
            ("rate", "Generator:"),
            ("bad-ratio", "Generator:"),
            ("no-generate", "Generator:"),
            ("listen", "Dashboard:"),
            ("auth-token", "Dashboard:"),
        ] {
            assert_eq!(heading_of(flag), heading, "--{flag}");
        }
    }
}
