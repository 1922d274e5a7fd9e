use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use anyhow::Context;
use clap::Args;
use publish::RunLimits;

use crate::commands::generate::{cancel_on_signal, print_summary, EventArgs, TopicArgs};
use crate::commands::schema::IngestArgs;
use crate::commands::serve::{spawn, ServeArgs};
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
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Do not generate events (consume and serve what others produce).
    #[arg(long, help_heading = "Generator")]
    pub no_generate: bool,
}

/// How long the schema step may go on after a stop signal: it is re-run safely at the next
/// start, but a migration cut between its statements and its record would run again.
const SCHEMA_GRACE: Duration = Duration::from_secs(5);

pub async fn run(config: &Config, args: UpArgs) -> anyhow::Result<ExitCode> {
    // Ctrl-C and SIGTERM stop the run from here on, start-up included: a `docker compose
    // stop` while the services are still coming up must not wait for its SIGKILL (as PID 1
    // in a container, a signal without a handler is ignored).
    //
    // One token for the run: cancelled when `up` returns, however it returns, it stops the
    // dashboard and every guard. A signal cancels only its child `stop` (start-up and the
    // generator); `finish` then stops the guards and the dashboard in order, through their
    // own children.
    let run = CancellationToken::new();
    let _stop_all_on_return = run.clone().drop_guard();
    let stop = run.child_token();
    cancel_on_signal(&stop);
    // Fail before touching anything when the dashboard's port is taken.
    drop(
        std::net::TcpListener::bind(args.serve.listen)
            .with_context(|| format!("cannot listen on {} (use --listen)", args.serve.listen))?,
    );
    println!("checking the services…");
    let checks = run_checks(
        config,
        &Options {
            require_topics: false,
            check_clickhouse_to_broker: true,
        },
    );
    let Some(checks) = unless_stopped(&stop, checks).await else {
        return Ok(stopped_during("the checks"));
    };
    // ClickHouse not answering at all (not started yet, restarting) is waited for: the
    // broker keeps the events meanwhile. Anything else is for the user to fix.
    let waiting = !report(&checks) && {
        if !clickhouse_unreachable(config, &checks).await {
            anyhow::bail!("the checks above failed; fix them and run `pipeline up` again");
        }
        true
    };
    // 18.16 ends a Kafka block only when it is full or the topic has been quiet for 500 ms:
    // a block sized for the rate keeps rows (and commits) coming every half second. Without
    // our generator, size it for outside producers at up to ~2,000 events/s (1,000 rows);
    // `--kafka-max-block-size` overrides both. Current servers flush on time and keep the
    // default, whatever the rate.
    const OUTSIDE_RATE: f64 = 2_000.0;
    let ingest = args.ingest.clone().sized_for_rate(if args.no_generate {
        OUTSIDE_RATE
    } else {
        args.events.rate
    });
    let ready = if waiting {
        println!(
            "ClickHouse does not answer at {}: `up` starts without it and waits for it \
             (checked every {} s; Ctrl-C stops). Meanwhile the dashboard says it is down and \
             the events wait on the topics; ClickHouse reads them once it is up.",
            config.clickhouse_url,
            CLICKHOUSE_POLL.as_secs()
        );
        crate::commands::generate::ensure_topics(config, &args.topics).await?;
        None
    } else {
        match set_up_ingest(config, &ingest, &args.topics, &run, &stop, false).await? {
            Some(ready) => Some(ready),
            None => return Ok(stopped_during("the topics and schema")),
        }
    };
    // Ready at once, or once ClickHouse answers; `None`: stopped before it did.
    let setup = async {
        match ready {
            Some(ready) => Ok(Some(ready)),
            None => set_up_ingest(config, &ingest, &args.topics, &run, &stop, true).await,
        }
    };
    tokio::pin!(setup);
    const NEVER_UP: &str = "stopped before ClickHouse answered: what was produced waits on the \
        topics, and ClickHouse reads it once the next `pipeline up` (or `schema apply`) has \
        made its tables";

    if args.no_generate {
        let server_stop = run.child_token();
        let server = spawn(
            config,
            &args.serve,
            None,
            Some(guard_stats()),
            server_stop.clone(),
        );
        println!(
            "dashboard on http://{}/ · not generating · Ctrl-C stops",
            args.serve.listen
        );
        tokio::pin!(server);
        let ready = tokio::select! {
            r = &mut setup => r?,
            r = &mut server => {
                r??;
                anyhow::bail!("the dashboard server stopped unexpectedly");
            }
        };
        let Some(ready) = ready else {
            println!("{NEVER_UP}");
            server_stop.cancel();
            server.await??;
            return Ok(ExitCode::SUCCESS);
        };
        tokio::select! {
            r = &mut server => {
                r??;
                anyhow::bail!("the dashboard server stopped unexpectedly");
            }
            _ = stop.cancelled() => {}
        }
        // Others may go on producing: nothing to wait for, only the last repair.
        finish(config, ready, None).await;
        server_stop.cancel();
        server.await??;
        return Ok(ExitCode::SUCCESS);
    }
    let server_stop = run.child_token();

    let publisher = publish::Publisher::new(&config.kafka(), &config.topics())?;
    let running = Arc::new(AtomicBool::new(true));
    let local = serve::LocalGenerator {
        counters: (0..config.topics().len())
            .map(|i| publisher.counters(i))
            .collect(),
        probe: publisher.probe(),
        running: running.clone(),
    };
    let server = spawn(
        config,
        &args.serve,
        Some(local),
        Some(guard_stats()),
        server_stop.clone(),
    );
    println!(
        "dashboard on http://{}/ · generating {} event(s)/s into {:?} · Ctrl-C stops",
        args.serve.listen,
        args.events.rate,
        config.topics()
    );
    let mut generator = args.events.generator()?;
    let limits = RunLimits {
        rate: args.events.rate,
        count: None,
        duration: None,
    };
    let mut generation = tokio::task::spawn_blocking({
        let stop = stop.clone();
        move || publish::run(&mut generator, &publisher, &limits, &stop, &mut |_| {})
    });
    // A server that cannot start (port taken) ends the run instead of generating blind.
    tokio::pin!(server);
    let ready = tokio::select! {
        r = &mut setup => r,
        r = &mut server => {
            stop.cancel();
            r??;
            anyhow::bail!("the dashboard server stopped unexpectedly");
        }
    };
    let ready = match ready {
        Ok(ready) => ready,
        Err(e) => {
            // ClickHouse came up but something else is wrong: the generator stops first.
            stop.cancel();
            let summary = (&mut generation).await??;
            running.store(false, Ordering::Relaxed);
            print_summary(&summary, false);
            return Err(e);
        }
    };
    let summary = tokio::select! {
        s = &mut generation => s??,
        r = &mut server => {
            stop.cancel();
            r??;
            anyhow::bail!("the dashboard server stopped unexpectedly");
        }
    };
    running.store(false, Ordering::Relaxed);
    print_summary(&summary, false);
    match ready {
        // The page goes on showing the last events land until the end.
        Some(ready) => finish(config, ready, Some(LANDING_WAIT)).await,
        None => println!("{NEVER_UP}"),
    }
    server_stop.cancel();
    server.await??;
    Ok(if summary.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How often a `up` started while ClickHouse is down looks for it again.
const CLICKHOUSE_POLL: Duration = Duration::from_secs(2);

/// Whether the checks failed only because ClickHouse does not answer at all (connection
/// refused, nothing listening, a timeout), with the broker fine: what `up` waits out.
async fn clickhouse_unreachable(config: &Config, checks: &[crate::doctor::Check]) -> bool {
    let broker_ok = checks
        .iter()
        .filter(|c| c.name == "broker" || c.name == "topic")
        .all(|c| c.ok);
    broker_ok
        && checks.iter().any(|c| c.name == "broker")
        && matches!(
            config.clickhouse().with_database("system").version().await,
            Err(clickhouse_http::Error::Unreachable { .. })
        )
}

/// The schema applied and the guards running.
struct Ready {
    applied: schema::ApplyReport,
    guards: Vec<tokio::task::JoinHandle<()>>,
    guards_stop: CancellationToken,
}

/// Topics, consumer groups and schema, then the guards; with `wait_for_clickhouse`, first
/// waits (re-running the checks) until ClickHouse answers. `None`: stopped first.
async fn set_up_ingest(
    config: &Config,
    ingest: &IngestArgs,
    topics: &crate::commands::generate::TopicArgs,
    run: &CancellationToken,
    stop: &CancellationToken,
    wait_for_clickhouse: bool,
) -> anyhow::Result<Option<Ready>> {
    if wait_for_clickhouse {
        let started = std::time::Instant::now();
        let mut said = started;
        loop {
            if unless_stopped(stop, tokio::time::sleep(CLICKHOUSE_POLL))
                .await
                .is_none()
            {
                return Ok(None);
            }
            let checks = run_checks(
                config,
                &Options {
                    require_topics: false,
                    check_clickhouse_to_broker: true,
                },
            );
            let Some(checks) = unless_stopped(stop, checks).await else {
                return Ok(None);
            };
            if checks.iter().all(|c| c.ok) {
                println!(
                    "ClickHouse answers after {} s of waiting:",
                    started.elapsed().as_secs()
                );
                report(&checks);
                break;
            }
            if !clickhouse_unreachable(config, &checks).await {
                report(&checks);
                anyhow::bail!(
                    "the checks above failed once ClickHouse answered; fix them and run \
                     `pipeline up` again"
                );
            }
            if said.elapsed() >= Duration::from_secs(30) {
                println!(
                    "still waiting for ClickHouse at {} ({} s)…",
                    config.clickhouse_url,
                    started.elapsed().as_secs()
                );
                said = std::time::Instant::now();
            }
        }
    }
    let schema = crate::commands::schema::apply(config, ingest, topics);
    tokio::pin!(schema);
    let applied = match unless_stopped(stop, &mut schema).await {
        Some(applied) => applied?,
        None => {
            println!(
                "stopping: letting the schema step finish (up to {} s)…",
                SCHEMA_GRACE.as_secs()
            );
            if let Ok(r) = tokio::time::timeout(SCHEMA_GRACE, schema).await {
                r?;
            }
            return Ok(None);
        }
    };
    println!(
        "schema: ClickHouse {}, {} migration(s) applied, {} ingest object(s) created{}",
        applied.server,
        applied.migrations_applied.len(),
        applied.ingest_created.len(),
        match &config.cluster {
            Some(c) => format!(
                "; cluster {c}: the page reads {} ({} Distributed table(s) made)",
                config.query_database(),
                applied.distributed_created.len()
            ),
            None => String::new(),
        }
    );
    let guards_stop = run.child_token();
    let guards = spawn_guards(config, &applied, guards_stop.clone());
    Ok(Some(Ready {
        applied,
        guards,
        guards_stop,
    }))
}

/// How long a stopping `up` waits for ClickHouse to consume what its generator produced.
const LANDING_WAIT: Duration = Duration::from_secs(60);

/// Ends a run so that `pipeline audit` is clean right after: waits (up to `landing`, where
/// given) until ClickHouse has consumed what is on the topics, then stops the guards. On
/// 18.16 it also pauses the Kafka tables (`schema::pause_ingest`; the next `up` or `schema
/// apply` resumes them) and makes the verifier account for every message they committed:
/// 18.16 commits a message it never wrote when a stream ends on a full block (the last
/// block before the generator stopped, typically), and no verifier runs after `up`.
async fn finish(config: &Config, ready: Ready, landing: Option<Duration>) {
    let Ready {
        applied,
        guards,
        guards_stop,
    } = ready;
    if let Err(e) = settle(config, &applied, guards, guards_stop, landing).await {
        // ClickHouse or the broker down at the end: nothing is lost, the verifier's offsets
        // are kept, and the next `up` goes on from them.
        eprintln!(
            "warning: the last repair pass could not run ({e:#}); the next `pipeline up` \
             finishes it, and until then `pipeline audit` may count messages as missing"
        );
    }
}

/// What [`finish`] does, failing on the first error.
async fn settle(
    config: &Config,
    applied: &schema::ApplyReport,
    guards: Vec<tokio::task::JoinHandle<()>>,
    guards_stop: CancellationToken,
    landing: Option<Duration>,
) -> anyhow::Result<()> {
    let schema = config.schema();
    let sources = reconcile::Source::both(&config.sales_topic, &config.warehouse_topic, |t| {
        schema.group_for(t)
    });
    // Per topic, the messages ClickHouse's group has not committed yet.
    let kafka = config.kafka();
    let unconsumed = || async {
        let mut per_topic = Vec::new();
        for s in &sources {
            per_topic.push(
                retrying(|| reconcile::unconsumed(&kafka, s))
                    .await
                    .with_context(|| format!("reading the offsets of {}", s.topic))?,
            );
        }
        anyhow::Ok(per_topic)
    };
    if let Some(limit) = landing {
        println!(
            "stopping: waiting for ClickHouse to consume what was produced (up to {} s; \
             Ctrl-C again to stop waiting)…",
            limit.as_secs()
        );
        let again = super::generate::stop_on_signal();
        let start = std::time::Instant::now();
        loop {
            let waiting: i64 = unconsumed().await?.iter().sum();
            if waiting == 0 {
                break;
            }
            if start.elapsed() >= limit || again.is_cancelled() {
                println!(
                    "stopping: {waiting} message(s) not consumed yet; ClickHouse takes them \
                     later (`pipeline audit` shows them as pending)"
                );
                break;
            }
            tokio::select! {
                _ = again.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }
    // The server passed `schema apply`, so its version is one of the two families.
    let on_18_16 = schema::Dialect::for_version(applied.server)
        .is_ok_and(|d| d == schema::Dialect::ClickHouse1816);
    if on_18_16 {
        for url in config.check_urls() {
            let paused = schema::pause_ingest(&config.clickhouse_at(&url), &schema)
                .await
                .context("pausing the Kafka tables")?;
            tracing::debug!(?paused, url, "Kafka tables paused");
        }
        // A block the engine was reading when the gate closed is still written and
        // committed: wait (up to 10 s) until the committed offsets stand still.
        let mut last = unconsumed().await?;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = unconsumed().await?;
            if now == last {
                break;
            }
            last = now;
        }
    }
    guards_stop.cancel();
    for g in guards {
        // A guard finishes the pass it is in; none may run beside the last one below. One
        // that does not stop is said, not waited on forever.
        if tokio::time::timeout(Duration::from_secs(30), g)
            .await
            .is_err()
        {
            eprintln!("warning: a guard did not stop within 30 s of its cancel; going on");
        }
    }
    if on_18_16 {
        let mut verify = clickhouse_18_16::verify::Verify::new(
            config.clickhouse(),
            &config.database,
            config.kafka(),
            sources,
        )
        .looking_up_in(&config.query_database());
        let mut tries = 1;
        let last = loop {
            match verify.catch_up().await {
                Ok(last) => break last,
                Err(e) if tries < RETRIES => {
                    tracing::warn!(error = %e, "the verifier's last pass failed; retrying");
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e).context("the verifier's last pass"),
            }
        };
        // A replayed message the engine had written after all is a copy: recorded now.
        for url in config.check_urls() {
            reconcile::duplicates::Duplicates::new(config.clickhouse_at(&url), &config.database)
                .reading_from(&config.query_database())
                .pass()
                .await
                .context("the duplicate check's last pass")?;
        }
        println!(
            "stopped: every message ClickHouse committed is in a table ({} checked, {} \
             replayed by the verifier); ClickHouse 18.16's Kafka tables are paused until the \
             next `pipeline up`",
            last.checked, last.replayed
        );
    } else {
        println!("stopped: ClickHouse's Kafka tables go on consuming");
    }
    // Last, the rollup check and the seals, so what the passes above recorded, and any
    // correction of a minute whose hour was sealed already (an hour that ended during a
    // recovery), reaches the hour tiers the page reads for 24 h and 7 days. Seen: the page
    // 3 orders short after ClickHouse came back from a 3-minute outage across an hour.
    if !applied.replicated {
        for url in config.check_urls() {
            let mut rollups =
                reconcile::rollups::Rollups::new(config.clickhouse_at(&url), &config.database)
                    .reading_from(&config.query_database());
            match tokio::time::timeout(Duration::from_secs(20), rollups.catch_up()).await {
                Ok(done) => {
                    done.context("the rollup check's last pass")?;
                }
                Err(_) => eprintln!(
                    "warning: the rollup check's last pass did not settle within 20 s; the \
                     next `pipeline up` finishes it"
                ),
            }
        }
    }
    Ok(())
}

/// How many times a read of the last repair pass is tried: right after an outage the broker
/// may time out a request or two (seen: a metadata request 60 s after the broker came back,
/// on a loaded machine; the pass was then skipped and 7 messages the engine had committed
/// unwritten stayed missing until the next `up`).
const RETRIES: u32 = 5;

/// `read`, tried up to [`RETRIES`] times, 2 s apart.
async fn retrying<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    read: impl Fn() -> F,
) -> Result<T, E> {
    let mut tries = 1;
    loop {
        match read().await {
            Err(e) if tries < RETRIES => {
                tracing::warn!(error = %e, "reading the offsets failed; retrying");
                tries += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            r => return r,
        }
    }
}

/// `step`'s output, or `None` as soon as a stop signal comes first (`step` is dropped).
async fn unless_stopped<T>(stop: &CancellationToken, step: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        out = step => Some(out),
        _ = stop.cancelled() => None,
    }
}

/// A stop signal during start-up ends the run cleanly, with exit code 0 (as a stop once
/// running does): nothing was started that needs stopping.
fn stopped_during(step: &str) -> ExitCode {
    println!("stopped by a signal (Ctrl-C or SIGTERM) during start-up, in {step}; nothing runs");
    ExitCode::SUCCESS
}

/// What keeps consumption whole beside the Kafka engine (crates/reconcile): the duplicate
/// check and the rollup check everywhere; where the server has no error stream mode, the verifier (every
/// committed message is in a table or replayed) and the rescue of stalled Kafka tables.
/// All stop with the dashboard.
/// What the guards of this process have done, shown by its dashboard (`/api/health`,
/// `/metrics`): one `up` runs per process, so one set, made at the first call.
fn guard_stats() -> Arc<reconcile::GuardStats> {
    static STATS: std::sync::OnceLock<Arc<reconcile::GuardStats>> = std::sync::OnceLock::new();
    STATS.get_or_init(reconcile::GuardStats::new).clone()
}

fn spawn_guards(
    config: &Config,
    applied: &schema::ApplyReport,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut guards = Vec::new();
    let server = &applied.server;
    let period = std::time::Duration::from_secs(1);
    if applied.replicated {
        // Both read one server's parts by block number, which Replicated tables number per
        // partition; and a shard's copies may sit on another shard.
        tracing::warn!(
            "cluster with replicas: the duplicate and rollup checks do not run; a block the \
             engine delivers twice is counted twice until then (pipeline audit shows duplicates)"
        );
    } else {
        // One of each per server listed (cluster mode: per shard), run one after another and
        // comparing the cluster's totals (the Distributed tables) where there is a cluster.
        let read_db = config.query_database();
        let (duplicates, rollups) = config
            .check_urls()
            .iter()
            .map(|u| {
                let client = config.clickhouse_at(u);
                (
                    reconcile::duplicates::Duplicates::new(client.clone(), &config.database)
                        .reading_from(&read_db),
                    reconcile::rollups::Rollups::new(client, &config.database)
                        .reading_from(&read_db),
                )
            })
            .unzip();
        guards.push(tokio::spawn(reconcile::rollups::run_checks(
            duplicates,
            rollups,
            period,
            stop.clone(),
            guard_stats(),
        )));
    }
    // Dead-letter retention (18.16 has no TTL): hourly, `pipeline dead-letters purge`'s pass.
    guards.push(tokio::spawn(super::dead_letters::purge_every_hour(
        config.clickhouse(),
        config.database.clone(),
        stop.clone(),
    )));
    let on_18_16 =
        schema::Dialect::for_version(*server).is_ok_and(|d| d == schema::Dialect::ClickHouse1816);
    if on_18_16 {
        let schema = config.schema();
        let sources = reconcile::Source::both(&config.sales_topic, &config.warehouse_topic, |t| {
            schema.group_for(t)
        });
        let verify = clickhouse_18_16::verify::Verify::new(
            config.clickhouse(),
            &config.database,
            config.kafka(),
            sources.clone(),
        )
        .looking_up_in(&config.query_database());
        guards.push(tokio::spawn(verify.run_counted(
            period,
            stop.clone(),
            guard_stats(),
        )));
        let rescue = clickhouse_18_16::rescue::Rescue::new(
            config.clickhouse(),
            &config.database,
            config.kafka(),
            sources,
            // Blocks are sized to half a second, so a working table commits every second or
            // so; but joining its group at start takes 3-4 s on 18.16 and tansu, and a
            // rescue then would only make copies.
            std::time::Duration::from_secs(5),
        );
        guards.push(tokio::spawn(rescue.run_counted(
            period,
            stop,
            guard_stats(),
        )));
    }
    guards
}
