use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use generate::{Generator, GeneratorConfig, Locale};
use indicatif::{ProgressBar, ProgressStyle};
use kafka_admin::TopicSpec;
use publish::{Publisher, RunLimits, RunSummary};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// What the events look like and how fast they come; shared by `generate` and `up`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Generator")]
pub struct EventArgs {
    /// Events per second; 0 = as fast as the broker takes them.
    #[arg(long, default_value_t = 1.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Seed: the same seed gives the same events (apart from their timestamps).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of sales among events; the rest are warehouse movements.
    #[arg(long, default_value_t = 0.7, value_parser = parse_share)]
    pub sales_share: f64,
    /// Language of product, warehouse and people names: ru or en.
    #[arg(long, default_value = "ru")]
    pub locale: Locale,
    /// Share of messages (0 to 1) that are malformed instead of events, for demos and tests.
    ///
    /// A bad message REPLACES an event: --count and --rate count both, and the events are
    /// those of a run without bad messages, fewer of them; the same seed gives the same
    /// messages. Its kind is drawn uniformly from those that apply to its topic: truncated
    /// JSON, plain text, binary garbage (some with a lone CR or a DEL byte), a wrong type
    /// ("quantity": "two", price as a string), a missing field, an unknown event_type or
    /// movement_type, a negative quantity, a zero price, an unparsable or year-2099
    /// event_time, an oversized (~100 KB) message. Their event_id, where they have one,
    /// starts with "bad-". The summary counts them in their own column, "bad"; its events,
    /// events/s and sums are of good events only, its bytes of both.
    #[arg(long, default_value_t = 0.0, value_parser = parse_bad_ratio)]
    pub bad_ratio: f64,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Kafka")]
pub struct TopicArgs {
    /// Partitions of each topic when it has to be created.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub partitions: i32,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err("the rate is events per second, 0 or more (0 = unlimited)".into());
    }
    Ok(v)
}

fn parse_share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err("the share is a fraction between 0 and 1".into());
    }
    Ok(v)
}

fn parse_bad_ratio(s: &str) -> Result<f64, String> {
    parse_share(s).map_err(|_| {
        format!("{s:?} is not a ratio between 0 and 1 (the share of messages that are bad)")
    })
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Print the closing summary as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub events: EventArgs,
    /// Stop after this many messages (events, and bad messages with --bad-ratio).
    #[arg(long, help_heading = "Generator")]
    pub count: Option<u64>,
    /// Stop after this long, e.g. 30s, 10m.
    #[arg(long, value_parser = humantime::parse_duration, help_heading = "Generator")]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub topics: TopicArgs,
}

impl EventArgs {
    pub fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            seed: self.seed,
            locale: self.locale,
            sales_share: self.sales_share,
            bad_ratio: self.bad_ratio,
        }
    }

    pub fn generator(&self) -> anyhow::Result<Generator> {
        Generator::new(&self.config()).map_err(anyhow::Error::msg)
    }
}

/// Creates the topics when missing, replicated as --topic-replication-factor says (or as the
/// broker's default does).
pub async fn ensure_topics(config: &Config, topics: &TopicArgs) -> anyhow::Result<()> {
    let specs: Vec<TopicSpec> = config
        .topics()
        .iter()
        .map(|t| TopicSpec {
            name: t.to_string(),
            partitions: topics.partitions,
        })
        .collect();
    kafka_admin::ensure_topics_replicated(
        &config.kafka(),
        &specs,
        config.topic_replication(),
        Duration::from_secs(10),
    )
    .await
    .context("preparing the topics")?;
    Ok(())
}

/// A token cancelled on Ctrl-C (and SIGTERM). The handlers are in place when this returns.
pub fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    cancel_on_signal(&stop);
    stop
}

/// Cancels `token` on Ctrl-C (and SIGTERM). The handlers are in place when this returns.
pub fn cancel_on_signal(token: &CancellationToken) {
    let token = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // Made here, not in the task: a signal stream takes over its signal when created.
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        tokio::spawn(async move {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(int.as_mut()) => token.cancel(),
                _ = recv(term.as_mut()) => token.cancel(),
                // Cancelled otherwise: nothing left to do.
                _ = token.cancelled() => {}
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => token.cancel(),
            _ = token.cancelled() => {}
        }
    });
}

pub async fn run(config: &Config, args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let mut generator = args.events.generator()?;
    ensure_topics(config, &args.topics).await?;
    let publisher = Publisher::new(&config.kafka(), &config.topics())?;
    let stop = stop_on_signal();
    let limits = RunLimits {
        rate: args.events.rate,
        count: args.count,
        duration: args.duration,
    };
    let bar = progress_bar(&limits);
    let summary = tokio::task::spawn_blocking({
        let bar = bar.clone();
        let stop = stop.clone();
        move || {
            let started = std::time::Instant::now();
            let mut progress = |n: u64| {
                // A bar of events for --count, of seconds for --duration alone.
                match (limits.count, limits.duration) {
                    (Some(_), _) => bar.set_position(n),
                    (None, Some(_)) => bar.set_position(started.elapsed().as_secs()),
                    (None, None) => {}
                }
                bar.set_message(format!("{n} events"));
            };
            publish::run(&mut generator, &publisher, &limits, &stop, &mut progress)
        }
    })
    .await??;
    bar.finish_and_clear();
    print_summary(&summary, args.json);
    Ok(if summary.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn progress_bar(limits: &RunLimits) -> ProgressBar {
    let style = |t: &str| ProgressStyle::with_template(t).expect("valid template");
    let bar = match (limits.count, limits.duration) {
        (Some(n), _) => ProgressBar::new(n)
            .with_style(style("{bar:40} {pos}/{len} events · {per_sec} · eta {eta}")),
        (None, Some(d)) => {
            ProgressBar::new(d.as_secs().max(1)).with_style(style("{bar:40} {pos}/{len} s · {msg}"))
        }
        (None, None) => ProgressBar::new_spinner().with_style(style("{spinner} {msg} · {elapsed}")),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub fn print_summary(summary: &RunSummary, json: bool) {
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    if json {
        let topics: Vec<_> = summary
            .topics
            .iter()
            .map(|(name, l)| {
                serde_json::json!({
                    "topic": name, "events": l.events, "bytes": l.bytes, "failed": l.failed,
                    "in_flight": l.in_flight, "quantity": l.quantity, "total_cents": l.total_cents,
                    "events_per_s": l.events as f64 / secs, "bad": l.bad,
                })
            })
            .collect();
        let out = serde_json::json!({
            "elapsed_s": secs, "interrupted": summary.interrupted, "topics": topics,
        });
        println!("{out}");
        return;
    }
    // "bad" is last so that readers of the older columns keep working.
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>8} {:>8}",
        "topic", "events", "bytes", "events/s", "failed", "bad"
    );
    for (name, l) in &summary.topics {
        println!(
            "{:<16} {:>10} {:>12} {:>12.1} {:>8} {:>8}",
            name,
            l.events,
            l.bytes,
            l.events as f64 / secs,
            l.failed + l.in_flight,
            l.bad
        );
    }
    println!(
        "{} in {:.1} s{}",
        if summary.failures() == 0 {
            "all delivered"
        } else {
            "SOME EVENTS FAILED"
        },
        secs,
        if summary.interrupted {
            " (stopped by signal)"
        } else {
            ""
        }
    );
}
