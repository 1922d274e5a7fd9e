//! The dashboard page in a real browser (Debian's headless chromium, driven by
//! `tests/browser/dashboard.mjs` over the DevTools protocol): its KPI tiles show exactly what
//! ClickHouse holds, change by themselves when new events land, and the page switches
//! between Russian and English (by its toggle, which is remembered, and by `?lang=` alone in
//! a fresh browser); no console errors on the way.
//!
//! Needs `node` (20+) and `/usr/bin/chromium` (or `$CHROMIUM`); `scripts/test` installs both.
//! Without them this test fails, it does not skip.

use crate::common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{generate_seeded, pipeline_ok, Server};
use generate::{Event, EventTime, Generator, GeneratorConfig};
use serde_json::{json, Value};
use testkit::TestEnv;

const FIRST: (u64, u64) = (7_001, 500);
const SECOND: (u64, u64) = (7_002, 200);

// ---------------------------------------------------------------------------- expected

/// The KPI tiles' raw values for the given (seed, count) batches, as the API computes them.
#[derive(Debug, Default)]
struct Totals {
    sales: u64,
    moves: u64,
    move_quantity: u64,
    revenue_cents: i64,
    items: u64,
    customers: BTreeSet<String>,
}

impl Totals {
    fn add(&mut self, (seed, n): (u64, u64)) {
        let mut gen = Generator::new(&GeneratorConfig {
            seed: Some(seed),
            ..Default::default()
        })
        .unwrap();
        for _ in 0..n {
            match gen.next_event(EventTime(*b"2026-01-01 00:00:00")) {
                Event::Sale(s) => {
                    self.sales += 1;
                    self.revenue_cents += s.total.0;
                    self.items += s.quantity as u64;
                    self.customers.insert(s.customer_id.to_string());
                }
                Event::StockMovement(m) => {
                    self.moves += 1;
                    self.move_quantity += m.quantity as u64;
                }
            }
        }
    }

    /// `{"revenue": 1234.5, ...}`: money as the API sends it (cents / 100, average ticket
    /// rounded half up to the cent).
    fn kpis(&self) -> Value {
        let (c, n) = (self.revenue_cents, self.sales as i64);
        json!({
            "revenue": c as f64 / 100.0,
            "orders": self.sales,
            "items": self.items,
            "avg_ticket": ((2 * c + n) / (2 * n)) as f64 / 100.0,
            "unique_customers": self.customers.len(),
        })
    }
}

/// Waits until every event counted in `t` is in the raw tables and the rollups.
async fn wait_landed(env: &TestEnv, t: &Totals) {
    common::wait_landed(
        env,
        t.sales,
        t.moves,
        t.move_quantity,
        Duration::from_secs(60),
    )
    .await;
}

// ---------------------------------------------------------------------------- processes

/// `node tests/browser/dashboard.mjs URL`: one JSON command per line in, one JSON reply out.
pub(crate) struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<String>,
}

impl Browser {
    fn chromium() -> String {
        std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
    }

    /// Fails (never skips) when node or chromium is missing.
    fn check_tools() {
        let chromium = Self::chromium();
        assert!(
            Path::new(&chromium).exists(),
            "chromium is not installed ({chromium} is missing): `scripts/test` installs it \
             (`apt-get install -y chromium`), or point $CHROMIUM at a Chromium binary"
        );
        let node = Command::new("node").arg("--version").output();
        let version = match node {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => panic!(
                "node is not installed: `scripts/test` installs it (`apt-get install -y nodejs`) \
                 along with chromium (`apt-get install -y chromium`)"
            ),
        };
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        assert!(
            major >= 20,
            "node {version} is too old: the browser test needs node 20+"
        );
    }

    pub(crate) fn open(url: &str) -> (Browser, Value) {
        Self::check_tools();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/dashboard.mjs");
        let mut child = Command::new("node")
            .arg("--experimental-websocket")
            .arg("--no-warnings")
            .arg(&script)
            .arg(url)
            .env("CHROMIUM", Self::chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut b = Browser {
            stdin: child.stdin.take(),
            child,
            replies,
        };
        let ready = b.reply(Duration::from_secs(40));
        assert_eq!(ready["event"], "ready", "the page did not come up: {ready}");
        assert_eq!(ready["ok"], true, "the page did not come up: {ready}");
        (b, ready)
    }

    fn reply(&mut self, timeout: Duration) -> Value {
        match self.replies.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("dashboard.mjs printed non-JSON ({e}): {line}")),
            Err(_) => panic!(
                "dashboard.mjs answered nothing within {timeout:?} (exit: {:?})",
                self.child.try_wait()
            ),
        }
    }

    /// Sends one command and returns its reply, which must have `ok: true`.
    pub(crate) fn run(&mut self, cmd: Value, timeout: Duration) -> Value {
        let stdin = self.stdin.as_mut().expect("browser open");
        writeln!(stdin, "{cmd}").expect("dashboard.mjs takes commands");
        stdin.flush().unwrap();
        let r = self.reply(timeout);
        assert_eq!(r["ok"], true, "{cmd} failed: {r}");
        r
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing stdin makes the script close chromium and exit; kill it if it does not.
        self.stdin.take();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------- the test

fn assert_tiles(state: &Value, want: &Value, what: &str) {
    for (k, v) in want.as_object().unwrap() {
        let shown = state["kpis"][k].as_str().unwrap_or_default();
        assert_eq!(
            shown.parse::<f64>().ok(),
            v.as_f64(),
            "{what}: tile {k} shows {shown:?}, ClickHouse holds {v}; page: {state}"
        );
    }
}

fn assert_no_errors(state: &Value, what: &str) {
    assert_eq!(
        state["errors"],
        json!([]),
        "{what}: console errors (warnings: {})",
        state["warnings"]
    );
}

fn has_cyrillic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_shows_live_exact_figures_in_both_languages() {
    Browser::check_tools();
    let env = TestEnv::new("browser").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let generate = |(seed, n): (u64, u64)| generate_seeded(&env, seed, n, &[]);
    generate(FIRST);
    let mut totals = Totals::default();
    totals.add(FIRST);
    wait_landed(&env, &totals).await;
    let server = Server::start(env.pipeline_args()).await;

    // Russian, last hour: the tiles hold exactly what ClickHouse holds.
    let (mut browser, ready) = Browser::open(&format!("{}/?lang=ru&range=1h", server.base));
    let want = totals.kpis();
    let state = browser.run(
        json!({"cmd": "wait", "kpis": want, "timeout_ms": 10000}),
        Duration::from_secs(20),
    );
    assert_tiles(&state, &want, "first load");
    assert_eq!(state["lang"], "ru", "{state}");
    let heading = state["heading"].as_str().unwrap_or_default();
    assert!(has_cyrillic(heading), "a Russian heading: {heading:?}");
    assert_eq!(state["kpi_labels"]["orders"], "Заказы", "{state}");
    assert_eq!(state["status_value"], "ready", "{state}");
    for (topic, rows) in [
        (&env.sales_topic, totals.sales),
        (&env.warehouse_topic, totals.moves),
    ] {
        assert_eq!(
            state["health_rows"][format!("health-{topic}-rows")],
            rows.to_string(),
            "health panel rows of {topic}: {state}"
        );
    }
    assert_eq!(state["recent_rows"], 10, "{state}");
    assert_no_errors(&state, "first load");
    let marker = ready["marker"].clone();
    assert!(marker.is_string(), "{ready}");

    // New events land: the tiles follow by themselves, without a reload.
    generate(SECOND);
    totals.add(SECOND);
    wait_landed(&env, &totals).await;
    let want = totals.kpis();
    let state = browser.run(
        json!({"cmd": "wait", "kpis": want, "timeout_ms": 15000}),
        Duration::from_secs(25),
    );
    assert_tiles(&state, &want, "after new events");
    assert_eq!(state["marker"], marker, "the page was not reloaded");
    assert_no_errors(&state, "after new events");
    // The health panel counts the new rows too.
    let rows = json!({
        format!("health-{}-rows", env.sales_topic): totals.sales,
        format!("health-{}-rows", env.warehouse_topic): totals.moves,
    });
    browser.run(
        json!({"cmd": "wait", "health_rows": rows, "timeout_ms": 15000}),
        Duration::from_secs(25),
    );

    // Switch to English with the toggle.
    browser.run(
        json!({"cmd": "click", "testid": "lang-toggle"}),
        Duration::from_secs(10),
    );
    let state = browser.run(
        json!({"cmd": "wait", "lang": "en", "kpis": want, "timeout_ms": 5000}),
        Duration::from_secs(10),
    );
    let heading = state["heading"].as_str().unwrap_or_default();
    assert!(
        !heading.is_empty() && !has_cyrillic(heading),
        "an English heading: {heading:?}"
    );
    assert_eq!(state["kpi_labels"]["orders"], "Orders", "{state}");
    assert!(
        !has_cyrillic(state["status"].as_str().unwrap_or_default()),
        "English status: {state}"
    );
    assert_eq!(
        state["marker"], marker,
        "the language switches without a reload"
    );

    // The toggle stored English: without `?lang` the page stays English; `?lang=ru` wins
    // over what is stored.
    let state = browser.run(
        json!({"cmd": "goto", "url": format!("{}/?range=1h", server.base)}),
        Duration::from_secs(30),
    );
    assert_eq!(state["lang"], "en", "the stored choice: {state}");
    let state = browser.run(
        json!({"cmd": "goto", "url": format!("{}/?lang=ru&range=1h", server.base)}),
        Duration::from_secs(30),
    );
    assert_eq!(state["lang"], "ru", "?lang=ru over the stored en: {state}");
    assert_eq!(state["kpi_labels"]["orders"], "Заказы", "{state}");
    assert_tiles(&state, &want, "?lang=ru");
    assert_no_errors(&state, "?lang=ru");
    drop(browser);

    // A fresh browser (its own empty profile: nothing stored) is Russian by default, and
    // `?lang=en` alone makes it English straight away.
    let (mut browser, fresh) = Browser::open(&format!("{}/?range=1h", server.base));
    assert_eq!(
        fresh["lang"], "ru",
        "the default in a fresh browser: {fresh}"
    );
    let state = browser.run(
        json!({"cmd": "goto", "url": format!("{}/?lang=en&range=1h", server.base)}),
        Duration::from_secs(30),
    );
    assert_eq!(state["lang"], "en", "?lang=en in a fresh browser: {state}");
    assert_eq!(state["kpi_labels"]["orders"], "Orders", "{state}");
    let heading = state["heading"].as_str().unwrap_or_default();
    assert!(
        !heading.is_empty() && !has_cyrillic(heading),
        "an English heading: {heading:?}"
    );
    assert_tiles(&state, &want, "?lang=en");
    let shot: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard_browser.png");
    browser.run(
        json!({"cmd": "screenshot", "path": shot}),
        Duration::from_secs(20),
    );
    let state = browser.run(json!({"cmd": "state"}), Duration::from_secs(10));
    assert_no_errors(&state, "English page");

    drop(browser);
    drop(server);
    env.drop_database().await;
}

// ---------------------------------------------------------------------------- dead letters, outage

/// A TCP proxy in front of ClickHouse that the test can cut: while cut it refuses new
/// connections and has dropped the open ones, so `serve` sees ClickHouse down exactly as
/// when the server stops (the shared server itself cannot be stopped under other tests).
struct Cuttable {
    url: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Cuttable {
    async fn start(target: &str) -> Cuttable {
        use std::sync::atomic::Ordering::SeqCst;
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, o) = (cut.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                o.lock().unwrap().push(task.abort_handle());
            }
        });
        Cuttable { url, cut, open }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
        if cut {
            for t in self.open.lock().unwrap().drain(..) {
                t.abort();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_show_as_inert_text_and_an_outage_says_since_when() {
    Browser::check_tools();
    let env = TestEnv::new("browser_dlq").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let batch = (7_003, 200);
    generate_seeded(&env, batch.0, batch.1, &[]);
    let mut totals = Totals::default();
    totals.add(batch);
    // Hostile messages, each refused: markup, a script end tag, a javascript: URL, bytes
    // that are not UTF-8. Each must show as the text it is and run nothing.
    let hostile: Vec<Vec<u8>> = vec![
        br#"<img src=x onerror="window.__pwned='img'">"#.to_vec(),
        br#"</script><script>window.__pwned='script'</script>"#.to_vec(),
        br#"{"event_id":"x","link":"javascript:window.__pwned='js'"}"#.to_vec(),
        b"\xff\xfe<b>bold</b>\x01".to_vec(),
    ];
    // On 18.16 a message the Kafka table cannot read stops it until the rescue guard (run
    // by `up`) takes it out: the guards run here as under `up`.
    let _guards = common::Guards::start(&env).await;
    common::produce(&env, &env.sales_topic, &hostile);
    let want_previews: BTreeSet<String> = [
        r#"<img src=x onerror="window.__pwned='img'">"#,
        r#"</script><script>window.__pwned='script'</script>"#,
        r#"{"event_id":"x","link":"javascript:window.__pwned='js'"}"#,
        "\u{fffd}\u{fffd}<b>bold</b>\\u{1}",
    ]
    .map(String::from)
    .into();
    wait_landed(&env, &totals).await;

    let proxy = Cuttable::start(&testkit::clickhouse_url()).await;
    let mut args = env.pipeline_args();
    let i = args.iter().position(|a| a == "--clickhouse-url").unwrap();
    args[i + 1] = proxy.url.clone();
    let server = Server::start(args).await;
    let (mut browser, _) = Browser::open(&format!("{}/?lang=en&range=1h", server.base));
    let want = totals.kpis();
    let state = browser.run(
        json!({"cmd": "wait", "kpis": want, "timeout_ms": 15000}),
        Duration::from_secs(20),
    );
    // The last sales show the product's name and, as the original did, its id.
    let first = state["recent_first"].as_str().unwrap_or_default();
    assert!(
        first.contains(" #") && first.len() > 3,
        "a recent sale shows a name and #id: {first:?}"
    );

    // The topic's dead-letter count opens the panel with the four messages, as text.
    let dead = format!("health-{}-dead", env.sales_topic);
    browser.run(
        json!({"cmd": "click", "testid": dead}),
        Duration::from_secs(10),
    );
    let state = browser.run(
        json!({"cmd": "wait", "dead_letters": 4, "timeout_ms": 10000}),
        Duration::from_secs(15),
    );
    assert_eq!(state["dead_letter_panel"], true, "{state}");
    let rows = state["dead_letters"].as_array().unwrap();
    let previews: BTreeSet<String> = rows
        .iter()
        .map(|r| r[4].as_str().unwrap().to_string())
        .collect();
    assert_eq!(previews, want_previews, "each message shown as its text");
    for r in rows {
        assert_eq!(r[1], env.sales_topic.as_str(), "{r}");
        assert!(
            r[2].as_str().unwrap().contains(" / "),
            "partition / offset: {r}"
        );
        assert!(!r[3].as_str().unwrap().is_empty(), "a reason: {r}");
    }
    assert_eq!(
        state["dead_letter_elements"], 0,
        "no element was made from a message: {state}"
    );
    assert_eq!(state["pwned"], Value::Null, "a message ran: {state}");
    assert_no_errors(&state, "dead-letter panel");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard_dead_letters.png");
    browser.run(
        json!({"cmd": "screenshot", "path": shot}),
        Duration::from_secs(20),
    );

    // ClickHouse goes away: the page says so and since when, and marks the figures stale
    // (the last ones stay, dimmed) instead of showing them as live.
    let before = unix_time();
    proxy.set_cut(true);
    let state = browser.run(
        json!({"cmd": "wait", "ch_down": true, "timeout_ms": 15000}),
        Duration::from_secs(20),
    );
    let banner = state["banner_ch"].as_str().unwrap_or_default().to_string();
    let pill = state["pill_ch"].as_str().unwrap_or_default().to_string();
    assert!(
        banner.contains("unreachable since ") && banner.contains("stale"),
        "the banner says since when and that the figures are stale: {banner:?}"
    );
    assert!(pill.contains("down since "), "{pill:?}");
    let since = banner
        .split("since ")
        .nth(1)
        .and_then(|s| s.get(..8))
        .unwrap_or_default()
        .to_string();
    assert!(
        since.len() == 8 && since.chars().filter(|c| *c == ':').count() == 2,
        "a time HH:MM:SS in the banner: {banner:?}"
    );
    assert_eq!(state["degraded"], true, "figures marked stale: {state}");
    assert_tiles(
        &state,
        &want,
        "the last figures, kept while ClickHouse is down",
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard_clickhouse_down.png");
    browser.run(
        json!({"cmd": "screenshot", "path": shot}),
        Duration::from_secs(20),
    );
    let h = server.json("/api/health", 200).await;
    let down_since = h["clickhouse"]["down_since"].as_u64().unwrap_or(0);
    assert!(
        down_since + 2 >= before && down_since <= unix_time(),
        "down_since {down_since} is when the cut happened ({before}): {h}"
    );

    // Back: the banner goes, the figures are live again.
    proxy.set_cut(false);
    let state = browser.run(
        json!({"cmd": "wait", "ch_down": false, "kpis": want, "timeout_ms": 20000}),
        Duration::from_secs(25),
    );
    assert_eq!(state["degraded"], false, "{state}");
    assert_no_errors(&state, "after the outage");

    drop(browser);
    drop(server);
    env.drop_database().await;
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
