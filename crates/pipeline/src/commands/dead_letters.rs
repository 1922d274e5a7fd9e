//! `pipeline dead-letters`: look at, export, replay and purge the messages that landed in
//! `dead_letter` instead of a table.
//!
//! A dead letter's id is `TOPIC:PARTITION:OFFSET`, the place of its message on the broker
//! (unique per message; topic names hold no `:`). Replays are recorded in
//! `dead_letter_replays` (migration 0007): a replayed message is a new message at a new
//! offset, so one refused again is a new dead letter whose `replay_of` is the first. All SQL
//! is in `sql/dead_letters/`; every value from the command line reaches it as a quoted
//! literal or a number.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use clickhouse_http::template::{self, Values};
use clickhouse_http::{quote, Client};
use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Dead letters, newest first: a table, or one JSON array with --json.
    List(ListArgs),
    /// One dead letter, its bytes escaped (non-printable and non-UTF-8 bytes as \xNN), or
    /// with --raw its exact bytes on stdout.
    Show(ShowArgs),
    /// Dead letters as JSON lines: the bytes as hex ("raw_hex") plus an escaped text
    /// preview ("preview"), with the same filters as list.
    Export(ExportArgs),
    /// Send dead letters back to their topic (the original bytes, or fixed versions from
    /// --fixed), wait for the broker's acknowledgements and record each replay.
    Replay(ReplayArgs),
    /// Delete dead letters older than the retention period (18.16 has no TTL; on servers
    /// with TTLs this also sets the table's TTL to the period).
    Purge(PurgeArgs),
}

/// Which dead letters.
#[derive(Debug, Args, Default, Clone)]
pub struct Filters {
    /// Only this topic.
    #[arg(long)]
    pub topic: Option<String>,
    /// Only reasons containing this text (case-insensitive), e.g. "malformed".
    #[arg(long)]
    pub reason: Option<String>,
    /// Only those received since: a duration back from now (1h, 30m, 2days) or an RFC 3339
    /// time (2026-12-02T14:00:00Z).
    #[arg(long, value_parser = parse_time, value_name = "WHEN")]
    pub since: Option<i64>,
    /// Only those received before: a duration back from now or an RFC 3339 time.
    #[arg(long, value_parser = parse_time, value_name = "WHEN")]
    pub until: Option<i64>,
}

impl Filters {
    fn is_empty(&self) -> bool {
        self.topic.is_none()
            && self.reason.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The dead letter's id: TOPIC:PARTITION:OFFSET, where its message sits on the broker
    /// (unique per message; `list` shows it).
    pub id: String,
    /// Write the message's exact bytes to stdout, nothing else.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// As JSON (the bytes as hex).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// At most this many (newest first) [default: all].
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Dead letters to replay, by id (TOPIC:PARTITION:OFFSET).
    pub ids: Vec<String>,
    #[command(flatten)]
    pub filters: Filters,
    /// JSON lines of fixed versions, sent instead of the original bytes: each
    /// {"id": "TOPIC:PARTITION:OFFSET", "message": {…}} (the JSON object sent as written in
    /// the file) or {"id": …, "raw": "…"} (the string's UTF-8 bytes sent as they are). With
    /// no ids or filters, exactly the dead letters named in the file are replayed; others
    /// selected go as they were.
    #[arg(long, value_name = "FILE")]
    pub fixed: Option<PathBuf>,
    /// Replay dead letters that were replayed before (each replay sends the message again).
    #[arg(long)]
    pub force: bool,
    /// Print the replays as one JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Keep dead letters this many days.
    #[arg(
        long,
        env = "DEAD_LETTER_RETENTION_DAYS",
        default_value_t = DEFAULT_RETENTION_DAYS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub dead_letter_retention_days: u32,
}

pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// `--since` / `--until`: unix seconds.
fn parse_time(s: &str) -> Result<i64, String> {
    let now = chrono::Utc::now().timestamp();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok((now - d.as_secs() as i64).max(0));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp().max(0));
    }
    Err(format!(
        "{s:?} is neither a duration back from now (1h, 30m, 2days) nor an RFC 3339 time \
         (2026-12-02T14:00:00Z)"
    ))
}

/// A dead letter's place: its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Id {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.topic, self.partition, self.offset)
    }
}

impl std::str::FromStr for Id {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Id> {
        let bad = || {
            anyhow::anyhow!(
                "{s:?} is not a dead letter id: expected TOPIC:PARTITION:OFFSET, e.g. sales:0:42 \
                 (`pipeline dead-letters list` shows them)"
            )
        };
        let mut parts = s.rsplitn(3, ':');
        let (Some(offset), Some(partition), Some(topic)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if topic.is_empty() {
            return Err(bad());
        }
        Ok(Id {
            topic: topic.to_string(),
            partition: partition.parse().map_err(|_| bad())?,
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Row {
    topic: String,
    partition: i32,
    offset: i64,
    received_at: String,
    reason: String,
    raw_hex: String,
    replay_of: String,
    replays: u64,
    last_replayed_at: String,
}

/// A dead letter as printed (list --json, export, show --json).
#[derive(Debug, Clone, Serialize)]
pub struct Letter {
    pub id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub received_at: String,
    pub reason: String,
    pub bytes: usize,
    /// The message's bytes as lowercase hex.
    pub raw_hex: String,
    /// The bytes as text, escaped (see [`escape`]), at most 120 characters.
    pub preview: String,
    /// The dead letter this one is a replay of (the replayed message was refused again).
    pub replay_of: Option<String>,
    /// How often this dead letter was replayed, and when last.
    pub replays: u64,
    pub last_replayed_at: Option<String>,
    #[serde(skip)]
    raw: Vec<u8>,
}

impl Letter {
    fn id(&self) -> Id {
        Id {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
        }
    }
}

fn from_row(r: Row) -> anyhow::Result<Letter> {
    let raw = unhex(&r.raw_hex).context("ClickHouse's hex of a dead letter")?;
    Ok(Letter {
        id: format!("{}:{}:{}", r.topic, r.partition, r.offset),
        preview: truncate(&escape(&raw), 120),
        bytes: raw.len(),
        raw_hex: r.raw_hex.to_ascii_lowercase(),
        replay_of: Some(r.replay_of).filter(|s| !s.is_empty()),
        last_replayed_at: (r.replays > 0).then_some(r.last_replayed_at),
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        received_at: r.received_at,
        reason: r.reason,
        replays: r.replays,
        raw,
    })
}

/// Bytes as printable text: printable ASCII as is (`\` doubled), valid UTF-8 characters
/// as is unless they are control or bidirectional-formatting characters; every other byte
/// (control bytes, invalid UTF-8) as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let hex = |out: &mut String, b: &[u8]| {
        for b in b {
            out.push_str(&format!("\\x{b:02X}"));
        }
    };
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let unsafe_format = matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
            if c == '\\' {
                out.push_str("\\\\");
            } else if c.is_control() || unsafe_format {
                let mut buf = [0u8; 4];
                hex(&mut out, c.encode_utf8(&mut buf).as_bytes());
            } else {
                out.push(c);
            }
        }
        hex(&mut out, chunk.invalid());
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("odd hex length");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("not hex"))
        .collect()
}

/// Renders one of `sql/dead_letters/`.
fn sql(db: &str, name: &str, source: &str, values: Values) -> anyhow::Result<String> {
    let mut v = Values::new().ident("db", db);
    v.extend(values);
    template::render(name, source, &v, &|_| None).map_err(|e| anyhow::anyhow!(e))
}

const SELECT: &str = include_str!("../../sql/dead_letters/select.sql");
const RECORD: &str = include_str!("../../sql/dead_letters/record_replays.sql");
const SUMMARY: &str = include_str!("../../sql/dead_letters/summary.sql");
const PURGE_COUNT: &str = include_str!("../../sql/dead_letters/purge_count.sql");
const PURGE: &str = include_str!("../../sql/dead_letters/purge.sql");
const PURGE_PENDING: &str = include_str!("../../sql/dead_letters/purge_pending.sql");
const RETENTION_TTL: &str = include_str!("../../sql/dead_letters/retention_ttl.sql");

/// Dead letters matching `filters` and, if given, `ids`; newest first, at most `limit`.
async fn select(
    client: &Client,
    db: &str,
    filters: &Filters,
    ids: Option<&[Id]>,
    limit: Option<u64>,
) -> anyhow::Result<Vec<Letter>> {
    // A sentinel tuple keeps the list at two or more, so it is always a list of tuples.
    let mut tuples = vec!["('', -1, -2)".to_string()];
    for id in ids.unwrap_or_default() {
        tuples.push(format!(
            "({}, {}, {})",
            quote(&id.topic),
            id.partition,
            id.offset
        ));
    }
    let q = sql(
        db,
        "dead_letters/select.sql",
        SELECT,
        Values::new()
            .string("topic", filters.topic.as_deref().unwrap_or(""))
            .string("reason", filters.reason.as_deref().unwrap_or(""))
            .int(
                "since",
                filters.since.unwrap_or(0).clamp(0, u32::MAX as i64),
            )
            .int(
                "until",
                filters
                    .until
                    .unwrap_or(u32::MAX as i64)
                    .clamp(0, u32::MAX as i64),
            )
            .int("all_ids", u8::from(ids.is_none()))
            .sql("ids", tuples.join(", "))
            .int("limit", limit.unwrap_or(1 << 62)),
    )?;
    let rows: Vec<Row> = client
        .query(&q)
        .await
        .map_err(|e| missing_table_hint(e, db))?;
    rows.into_iter().map(from_row).collect()
}

fn missing_table_hint(e: clickhouse_http::Error, db: &str) -> anyhow::Error {
    if e.code() == Some(60) || e.code() == Some(81) {
        anyhow::anyhow!(
            "{e}\nthe database {db} lacks the dead-letter tables: run `pipeline schema apply` (or `pipeline up`) first"
        )
    } else {
        anyhow::Error::new(e).context(format!("reading {db}.dead_letter"))
    }
}

/// Per topic, for `pipeline audit`: dead letters, replayed and landed, replayed and refused
/// again. Empty where the database has no `dead_letter_replays` yet.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ReplaySummary {
    pub dead_letters: u64,
    pub replayed_landed: u64,
    pub failed_again: u64,
}

pub async fn replay_summary(
    client: &Client,
    db: &str,
) -> anyhow::Result<BTreeMap<String, ReplaySummary>> {
    #[derive(Deserialize)]
    struct R {
        topic: String,
        #[serde(flatten)]
        s: ReplaySummary,
    }
    let q = sql(db, "dead_letters/summary.sql", SUMMARY, Values::new())?;
    match client.query::<R>(&q).await {
        Ok(rows) => Ok(rows.into_iter().map(|r| (r.topic, r.s)).collect()),
        Err(e) if e.code() == Some(60) => Ok(BTreeMap::new()),
        Err(e) => Err(e).context(format!("reading the dead letters' replays in {db}")),
    }
}

/// What [`purge`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Purged {
    pub retention_days: u32,
    pub deleted: u64,
    /// The server expires dead letters itself (TTL set to the period).
    pub ttl: bool,
}

/// Deletes dead letters older than `days` days and waits (up to 60 s) until the deletion is
/// done; where the server has TTLs, also sets dead_letter's TTL to `days`. Idempotent and
/// cheap when nothing is old: `up`'s loop may call it (e.g. hourly).
pub async fn purge(client: &Client, db: &str, days: u32) -> anyhow::Result<Purged> {
    let version = client.version().await?;
    let ttl = schema::Dialect::for_version(version)? == schema::Dialect::Current;
    if ttl {
        client
            .execute(&sql(
                db,
                "dead_letters/retention_ttl.sql",
                RETENTION_TTL,
                Values::new().int("days", days),
            )?)
            .await
            .context("setting dead_letter's TTL")?;
    }
    let before = (chrono::Utc::now().timestamp() - i64::from(days) * 86_400).max(0);
    let values = Values::new().int("before", before);
    #[derive(Deserialize)]
    struct Count {
        rows: u64,
    }
    let old: Count = client
        .query_one(&sql(
            db,
            "dead_letters/purge_count.sql",
            PURGE_COUNT,
            values.clone(),
        )?)
        .await
        .map_err(|e| missing_table_hint(e, db))?;
    if old.rows > 0 {
        client
            .execute(&sql(db, "dead_letters/purge.sql", PURGE, values)?)
            .await
            .context("deleting old dead letters")?;
        #[derive(Deserialize)]
        struct Pending {
            pending: u64,
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let p: Pending = client
                .query_one(&sql(
                    db,
                    "dead_letters/purge_pending.sql",
                    PURGE_PENDING,
                    Values::new(),
                )?)
                .await?;
            if p.pending == 0 {
                break;
            }
            if std::time::Instant::now() > deadline {
                tracing::warn!("the deletion of old dead letters is still running after 60 s");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(Purged {
        retention_days: days,
        deleted: old.rows,
        ttl,
    })
}

/// The retention pass `pipeline up` runs beside its guards where the server has no TTL
/// (18.16): [`purge`] at start and then every hour until `stop` is cancelled, keeping `DEAD_LETTER_RETENTION_DAYS` days (default 30). A failure is
/// logged and tried again an hour later.
pub async fn purge_every_hour(
    client: Client,
    db: String,
    stop: tokio_util::sync::CancellationToken,
) {
    let days = std::env::var("DEAD_LETTER_RETENTION_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .filter(|d| *d > 0)
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    // Servers with TTLs expire dead letters themselves (migration 0007; `pipeline
    // dead-letters purge --dead-letter-retention-days N` changes the period).
    if let Ok(Ok(schema::Dialect::Current)) =
        client.version().await.map(schema::Dialect::for_version)
    {
        return;
    }
    while !stop.is_cancelled() {
        match purge(&client, &db, days).await {
            Ok(p) if p.deleted > 0 => {
                tracing::info!(deleted = p.deleted, days, "old dead letters deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("dead-letter retention pass failed: {e:#}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

pub async fn run(config: &Config, cmd: DeadLettersCommand) -> anyhow::Result<ExitCode> {
    let db = config.query_database();
    let reader = config.clickhouse().with_setting("readonly", 2);
    match cmd {
        DeadLettersCommand::List(args) => {
            let letters = select(&reader, &db, &args.filters, None, Some(args.limit)).await?;
            if args.json {
                println!("{}", serde_json::to_string(&letters)?);
            } else {
                print_table(&letters);
            }
        }
        DeadLettersCommand::Show(args) => {
            let id: Id = args.id.parse()?;
            let letters = select(
                &reader,
                &db,
                &Filters::default(),
                Some(std::slice::from_ref(&id)),
                None,
            )
            .await?;
            let Some(letter) = letters.first() else {
                bail!("no dead letter {id} in database {db} (`pipeline dead-letters list` shows the ids)");
            };
            if args.raw {
                let mut out = std::io::stdout().lock();
                out.write_all(&letter.raw)?;
                out.flush()?;
            } else if args.json {
                println!("{}", serde_json::to_string(letter)?);
            } else {
                print_letter(letter);
            }
        }
        DeadLettersCommand::Export(args) => {
            let letters = select(&reader, &db, &args.filters, None, args.limit).await?;
            let mut out = std::io::stdout().lock();
            for l in &letters {
                serde_json::to_writer(&mut out, l)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        DeadLettersCommand::Replay(args) => return replay(config, &db, args).await,
        DeadLettersCommand::Purge(args) => {
            let p = purge(
                &config.clickhouse(),
                &config.database,
                args.dead_letter_retention_days,
            )
            .await?;
            println!(
                "deleted {} dead letter(s) older than {} day(s){}",
                p.deleted,
                p.retention_days,
                if p.ttl {
                    "; the server also expires them itself (dead_letter's TTL set to the period)"
                } else {
                    " (this server has no TTL: run purge regularly)"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(letters: &[Letter]) {
    println!(
        "{:<28} {:<19} {:<44} {:<26} preview",
        "id", "received_at", "reason", "replay"
    );
    for l in letters {
        let replay = match (&l.replay_of, l.replays) {
            (Some(of), 0) => format!("replay of {of}"),
            (Some(of), n) => format!("replay of {of}, replayed {n}×"),
            (None, 0) => String::new(),
            (None, n) => format!("replayed {n}×"),
        };
        println!(
            "{:<28} {:<19} {:<44} {:<26} {}",
            l.id,
            l.received_at,
            escape(l.reason.as_bytes()),
            replay,
            truncate(&l.preview, 60)
        );
    }
    println!("{} dead letter(s)", letters.len());
}

fn print_letter(l: &Letter) {
    println!("id:          {}", l.id);
    println!("received_at: {}", l.received_at);
    println!("reason:      {}", escape(l.reason.as_bytes()));
    println!("bytes:       {}", l.bytes);
    if let Some(of) = &l.replay_of {
        println!("replay of:   {of} (a replay of that dead letter, refused again)");
    }
    if l.replays > 0 {
        println!(
            "replayed:    {} time(s), last at {}",
            l.replays,
            l.last_replayed_at.as_deref().unwrap_or("")
        );
    }
    println!("raw:         {}", escape(&l.raw));
}

/// A fixed version from `--fixed`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixedLine {
    id: String,
    #[serde(default)]
    message: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    raw: Option<String>,
}

fn read_fixed(path: &std::path::Path) -> anyhow::Result<BTreeMap<Id, Vec<u8>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the fixed versions in {}", path.display()))?;
    let mut fixed = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{} line {}", path.display(), n + 1);
        let f: FixedLine = serde_json::from_str(line).with_context(|| {
            format!(
                "{}: expected {{\"id\": \"TOPIC:PARTITION:OFFSET\", \"message\": {{…}}}} or {{\"id\": …, \"raw\": \"…\"}}",
                at()
            )
        })?;
        let id: Id = f.id.parse().with_context(at)?;
        let bytes = match (f.message, f.raw) {
            (Some(m), None) => m.get().as_bytes().to_vec(),
            (None, Some(r)) => r.into_bytes(),
            _ => bail!("{}: give exactly one of \"message\" and \"raw\"", at()),
        };
        if fixed.insert(id.clone(), bytes).is_some() {
            bail!("{}: {id} is fixed twice in the file", at());
        }
    }
    Ok(fixed)
}

/// What one replay sent and where it went.
#[derive(Debug, Serialize)]
struct Replayed {
    id: String,
    new_id: String,
    fixed: bool,
    event_id: String,
}

fn dummy_message() -> rdkafka::message::OwnedMessage {
    rdkafka::message::OwnedMessage::new(
        None,
        None,
        String::new(),
        rdkafka::Timestamp::NotAvailable,
        -1,
        -1,
        None,
    )
}

/// The event_id of a JSON message, '' if none; and its product_id, the key producers use.
fn event_and_key(payload: &[u8]) -> (String, Option<String>) {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let event_id = v
        .get("event_id")
        .and_then(|e| e.as_str())
        .unwrap_or("")
        .to_string();
    let key = v
        .get("product_id")
        .and_then(|p| p.as_u64())
        .map(|p| p.to_string());
    (event_id, key)
}

async fn replay(config: &Config, db: &str, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let fixed = match &args.fixed {
        Some(path) => read_fixed(path)?,
        None => BTreeMap::new(),
    };
    let mut ids: Vec<Id> = args
        .ids
        .iter()
        .map(|s| s.parse())
        .collect::<anyhow::Result<_>>()?;
    if ids.is_empty() && args.filters.is_empty() {
        if fixed.is_empty() {
            bail!(
                "name the dead letters to replay: ids (TOPIC:PARTITION:OFFSET), --reason, \
                 --topic, --since/--until, or a --fixed file"
            );
        }
        ids = fixed.keys().cloned().collect();
    }
    let by_id = !ids.is_empty();
    let reader = config.clickhouse().with_setting("readonly", 2);
    let letters = select(
        &reader,
        db,
        &args.filters,
        by_id.then_some(ids.as_slice()),
        None,
    )
    .await?;
    let found: BTreeSet<Id> = letters.iter().map(Letter::id).collect();
    if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
        bail!(
            "no dead letter {missing} in database {db}{} (`pipeline dead-letters list` shows the ids)",
            if args.filters.is_empty() { "" } else { " matching the filters" }
        );
    }
    if let Some(stray) = fixed.keys().find(|id| !found.contains(id)) {
        bail!("--fixed names {stray}, which is not among the dead letters to replay");
    }
    if letters.is_empty() {
        println!("no dead letter matches: nothing replayed");
        return Ok(ExitCode::SUCCESS);
    }
    // One message is one dead letter; a dead letter listed twice is replayed once.
    let mut seen = BTreeSet::new();
    let letters: Vec<Letter> = letters
        .into_iter()
        .filter(|l| seen.insert(l.id()))
        .collect();
    let again: Vec<&Letter> = letters.iter().filter(|l| l.replays > 0).collect();
    if !again.is_empty() && !args.force {
        let list: Vec<String> = again
            .iter()
            .map(|l| {
                format!(
                    "{} ({} time(s), last at {})",
                    l.id,
                    l.replays,
                    l.last_replayed_at.as_deref().unwrap_or("?")
                )
            })
            .collect();
        bail!(
            "refused: {} dead letter(s) already replayed: {}. Replaying sends the message once \
             more (a second copy of an event that landed); pass --force to replay anyway",
            again.len(),
            list.join(", ")
        );
    }

    let to_send: Vec<(Letter, Vec<u8>, bool)> = letters
        .into_iter()
        .map(|l| match fixed.get(&l.id()) {
            Some(f) => {
                let f = f.clone();
                (l, f, true)
            }
            None => {
                let raw = l.raw.clone();
                (l, raw, false)
            }
        })
        .collect();
    let kafka = config.kafka();
    let mut producer_config = publish::producer_config(&kafka);
    // A replay is interactive: a broker away for 30 s is a failure, not a wait without end.
    producer_config.set("delivery.timeout.ms", "30000");
    for (k, v) in &kafka.options {
        producer_config.set(k, v);
    }
    let producer: rdkafka::producer::FutureProducer = producer_config
        .create()
        .context("creating the Kafka producer")?;
    let mut deliveries = Vec::new();
    for (letter, payload, _) in &to_send {
        let (_, key) = event_and_key(payload);
        let mut record = rdkafka::producer::FutureRecord::<str, [u8]>::to(&letter.topic)
            .payload(payload.as_slice());
        if let Some(k) = &key {
            record = record.key(k.as_str());
        }
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e));
    }
    let mut sent = Vec::new();
    let mut failures = Vec::new();
    for ((letter, payload, is_fixed), delivery) in to_send.iter().zip(deliveries) {
        let delivery = match delivery {
            Ok(future) => future
                .await
                .unwrap_or(Err((rdkafka::error::KafkaError::Canceled, dummy_message()))),
            Err(e) => Err((e, dummy_message())),
        };
        match delivery {
            Ok(d) => {
                let (event_id, _) = event_and_key(payload);
                sent.push((letter, d.partition, d.offset, *is_fixed, event_id));
            }
            Err((e, _)) => failures.push(format!("{}: {e}", letter.id)),
        }
    }
    if !sent.is_empty() {
        let rows: Vec<String> = sent
            .iter()
            .map(|(l, p, o, f, e)| {
                format!(
                    "({}, {}, {}, {}, {p}, {o}, {}, {})",
                    quote(&l.topic),
                    l.partition,
                    l.offset,
                    quote(&l.topic),
                    quote(e),
                    u8::from(*f)
                )
            })
            .collect();
        config
            .clickhouse()
            .execute(&sql(
                &config.database,
                "dead_letters/record_replays.sql",
                RECORD,
                Values::new().sql("rows", rows.join(", ")),
            )?)
            .await
            .context("recording the replays in dead_letter_replays (the messages were sent)")?;
    }
    let replayed: Vec<Replayed> = sent
        .iter()
        .map(|(l, p, o, f, e)| Replayed {
            id: l.id.clone(),
            new_id: format!("{}:{p}:{o}", l.topic),
            fixed: *f,
            event_id: e.clone(),
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string(&replayed)?);
    } else {
        for r in &replayed {
            println!(
                "replayed {} → {} ({})",
                r.id,
                r.new_id,
                if r.fixed {
                    "fixed version"
                } else {
                    "original bytes"
                }
            );
        }
        println!("{} replayed, acknowledged by the broker", replayed.len());
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("not replayed (delivery failed): {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_print() {
        let id: Id = "t_a.b-c:3:42".parse().unwrap();
        assert_eq!(
            (id.topic.as_str(), id.partition, id.offset),
            ("t_a.b-c", 3, 42)
        );
        assert_eq!(id.to_string(), "t_a.b-c:3:42");
        for bad in ["", "sales", "sales:0", ":0:1", "sales:x:1", "sales:0:1x"] {
            assert!(bad.parse::<Id>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn bytes_are_escaped_printably() {
        assert_eq!(escape(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(escape(b"a\tb\r\n\\"), "a\\x09b\\x0D\\x0A\\\\");
        assert_eq!(escape(b"\xff\xfe ok"), "\\xFF\\xFE ok");
        assert_eq!(escape("привет".as_bytes()), "привет");
        assert_eq!(escape("a\u{202E}b".as_bytes()), "a\\xE2\\x80\\xAEb");
        assert_eq!(escape(b"\x1b[31m"), "\\x1B[31m");
    }

    #[test]
    fn times_parse() {
        let now = chrono::Utc::now().timestamp();
        let t = parse_time("1h").unwrap();
        assert!((now - 3600 - t).abs() <= 2);
        assert_eq!(parse_time("2026-12-02T14:00:00Z").unwrap(), 1_796_220_000);
        assert_eq!(
            parse_time("2026-12-02T17:00:00+03:00").unwrap(),
            1_796_220_000
        );
        assert!(parse_time("yesterday").is_err());
    }
}
