//! Monitoring (deploy/monitoring): a real `pipeline up` with its generator, its /metrics
//! checked by `promtool check metrics`, scraped by a real Prometheus (Debian's, on
//! loopback, every second) with the alert rules loaded, and every series the Grafana
//! dashboard and the alert rules name queried back through Prometheus' HTTP API; and a guard
//! made to fail under a running `up` (its table renamed away), seen in
//! `pipeline_guard_errors_total` and in `/api/health`'s `guards`, then seen recover.
//!
//! Needs `promtool` and `prometheus` (Debian's `prometheus` package; `ensure_prometheus`
//! in scripts/lib/tools.sh, which scripts/test runs).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, Up};
use serde_json::Value;
use testkit::TestEnv;

const ALERTS: &str = "deploy/monitoring/alerts.yml";
const DASHBOARD: &str = "deploy/monitoring/grafana/pipeline.json";

/// Series the files name that have no sample while all is well (the family is always in
/// /metrics): a table is stalled only when it gains nothing while messages wait.
const ONLY_WHEN_SOMETHING_IS_WRONG: &[&str] = &["pipeline_consumer_stalled_seconds"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is missing: install Debian's `prometheus` package (`ensure_prometheus` in \
         scripts/lib/tools.sh; scripts/test does it)"
    );
    Command::new(name)
}

/// The guard `name` as `/api/health` lists it.
async fn guard(up: &Up, name: &str) -> Option<Value> {
    let h = up.health().await?;
    h["guards"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == name)
        .cloned()
}

/// The value of the sample `name` (labels included) in Prometheus text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Every `pipeline_…` metric name in `text` (PromQL in YAML or JSON).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("pipeline_") {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// The PromQL expressions of the alert rules and the dashboard's panels.
fn expressions() -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    for p in dashboard["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            exprs.push((
                format!("panel {:?}", p["title"].as_str().unwrap()),
                t["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    // alerts.yml: each `expr:` is one line.
    let mut alert = String::new();
    for line in read(ALERTS).lines() {
        let line = line.trim();
        if let Some(a) = line.strip_prefix("- alert:") {
            alert = a.trim().to_string();
        } else if let Some(e) = line.strip_prefix("expr:") {
            exprs.push((format!("alert {alert}"), e.trim().to_string()));
        }
    }
    exprs
}

/// `promtool check metrics` on `metrics`: its exit status and what it printed.
fn promtool_check_metrics(metrics: &str) -> (bool, String) {
    let mut child = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Prometheus on loopback, scraping `target` every second as job `pipeline`, with the
/// alert rules; storage in a temporary directory removed on drop.
struct Prometheus {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Prometheus {
    async fn start(target: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(testkit::unique_name("prometheus"));
        std::fs::create_dir_all(&dir).unwrap();
        let rules = repo().join(ALERTS).canonicalize().unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: pipeline\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = tool("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let ready = format!("{}/-/ready", p.base);
        let start = Instant::now();
        loop {
            if reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "Prometheus not ready within 30 s:\n{}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/query`: the answer's JSON (status, data or error).
    async fn query(&self, expr: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr)])
            .send()
            .await
            .expect("Prometheus answers")
            .json()
            .await
            .expect("JSON")
    }

    async fn rules(&self) -> Value {
        reqwest::get(format!("{}/api/v1/rules", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_up_and_finds_every_series_of_the_dashboard_and_alerts() {
    let started = Instant::now();
    let env = TestEnv::new("prometheus").await;
    let up = Up::start(&env, &["--rate", "200", "--bad-ratio", "0.01"]);

    // Running: events generated, latency measured, dead letters counted, every guard has
    // passed at least once.
    let start = Instant::now();
    let health = loop {
        let h = up.health().await;
        if let Some(h) = &h {
            let guards = h["guards"].as_array().cloned().unwrap_or_default();
            if h["generator"]["events"].as_u64() > Some(0)
                && h["latency_ms"]["samples"].as_u64() > Some(0)
                && h["topics"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["dead_letters"].as_u64() > Some(0)))
                && !guards.is_empty()
                && guards.iter().all(|g| g["passes"].as_u64() > Some(0))
            {
                break h.clone();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "up not running fully within 120 s: {h:?}\n{}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // ClickHouse 18.16 here: all four guards, none failing.
    let names: Vec<&str> = health["guards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["duplicates", "rescue", "rollups", "verify"],
        "{health}"
    );
    for g in health["guards"].as_array().unwrap() {
        assert_eq!(g["failing_since"], Value::Null, "{g}");
    }

    // /metrics passes promtool, and has every family the dashboard and the rules name.
    let metrics = up.metrics().await.expect("/metrics");
    let (ok, said) = promtool_check_metrics(&metrics);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n/metrics:\n{metrics}"
    );
    let named = metric_names(&format!("{}\n{}", read(ALERTS), read(DASHBOARD)));
    for family in [
        "pipeline_generator_events_total",
        "pipeline_table_rows",
        "pipeline_table_landed_per_second",
        "pipeline_topic_messages_total",
        "pipeline_consumer_lag",
        "pipeline_produce_to_queryable_seconds",
        "pipeline_dead_letters",
        "pipeline_guard_passes_total",
        "pipeline_guard_errors_total",
        "pipeline_clickhouse_up",
        "pipeline_broker_up",
    ] {
        assert!(
            named.contains(family),
            "the dashboard and alerts use {family}: {named:?}"
        );
    }
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !metrics.contains(&format!("# TYPE {n} ")))
        .collect();
    assert!(
        missing.is_empty(),
        "named in {ALERTS} or {DASHBOARD} but not in /metrics: {missing:?}\n{metrics}"
    );
    for g in ["duplicates", "rollups", "verify", "rescue"] {
        let passes = sample(
            &metrics,
            &format!("pipeline_guard_passes_total{{guard=\"{g}\"}}"),
        );
        assert!(passes > Some(0.0), "{g}: {passes:?}\n{metrics}");
        let errors = sample(
            &metrics,
            &format!("pipeline_guard_errors_total{{guard=\"{g}\"}}"),
        );
        assert!(errors.is_some(), "{g}\n{metrics}");
    }

    // The rules pass promtool too.
    let out = tool("promtool")
        .args(["check", "rules"])
        .arg(repo().join(ALERTS))
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check rules:\n{said}");
    println!("promtool check rules: {}", said.trim());

    // A real Prometheus scraping up: every series named, back from its HTTP API; every
    // expression of the dashboard and the rules accepted; every rule evaluated.
    let prom = Prometheus::start(&format!("127.0.0.1:{}", up.port)).await;
    let exprs = expressions();
    let start = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for name in &named {
            if ONLY_WHEN_SOMETHING_IS_WRONG.contains(&name.as_str()) {
                continue;
            }
            let r = prom.query(name).await;
            assert_eq!(r["status"], "success", "{name}: {r}");
            if r["data"]["result"].as_array().is_none_or(|v| v.is_empty()) {
                waiting.push(name.clone());
            }
        }
        for expr in [
            "pipeline_broker_up == 1",
            "pipeline_clickhouse_up == 1",
            "up{job=\"pipeline\"} == 1",
        ] {
            let r = prom.query(expr).await;
            if r["data"]["result"].as_array().is_none_or(|v| v.is_empty()) {
                waiting.push(expr.to_string());
            }
        }
        // Rates need two scrapes: events flowing, rows landing, guards passing.
        for expr in [
            "rate(pipeline_topic_messages_total[5s]) > 0",
            "rate(pipeline_generator_events_total[5s]) > 0",
            "rate(pipeline_table_rows[5s]) > 0",
            "increase(pipeline_guard_passes_total{guard=\"duplicates\"}[5s]) > 0",
        ] {
            let r = prom.query(expr).await;
            if r["data"]["result"].as_array().is_none_or(|v| v.is_empty()) {
                waiting.push(expr.to_string());
            }
        }
        let rules = prom.rules().await;
        let evaluated: Vec<&Value> = rules["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        if evaluated.len()
            != exprs
                .iter()
                .filter(|(w, _)| w.starts_with("alert "))
                .count()
            || evaluated.iter().any(|r| r["health"] != "ok")
        {
            waiting.push(format!("rules evaluated: {rules}"));
        }
        if waiting.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not in Prometheus within 60 s: {waiting:?}\nPrometheus:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for (where_, expr) in &exprs {
        let r = prom.query(expr).await;
        assert_eq!(r["status"], "success", "{where_}: {expr}: {r}");
    }
    // Nothing fires while all is well (the guards pass, the services answer).
    let firing = prom.query("ALERTS{alertstate=\"firing\"}").await;
    assert_eq!(firing["data"]["result"], Value::Array(vec![]), "{firing}");
    drop(prom);

    up.stop("INT");
    env.drop_database().await;
    println!("prometheus test: {:.0?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_guard_is_counted_logged_once_and_reported_on_health() {
    let env = TestEnv::new("guard_fail").await;
    let up = Up::start(&env, &["--rate", "200"]);
    let start = Instant::now();
    let before = loop {
        if let Some(g) = guard(&up, "duplicates").await {
            if g["passes"].as_u64() > Some(0) {
                break g;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the duplicate check never passed:\n{}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(before["errors"], 0, "{before}");
    assert_eq!(before["failing_since"], Value::Null, "{before}");

    // The duplicate ledger of sales renamed away: each pass fails.
    let db = &env.database;
    env.root()
        .execute(&format!(
            "RENAME TABLE {db}.sales_duplicates TO {db}.sales_duplicates_away"
        ))
        .await
        .unwrap();
    let errors = |m: &str| sample(m, "pipeline_guard_errors_total{guard=\"duplicates\"}");
    let start = Instant::now();
    let (first, failing) = loop {
        let m = up.metrics().await.unwrap_or_default();
        let g = guard(&up, "duplicates").await;
        if let (Some(e), Some(g)) = (errors(&m), g) {
            if e >= 1.0 && !g["failing_since"].is_null() {
                assert_eq!(
                    sample(&m, "pipeline_guard_failing{guard=\"duplicates\"}"),
                    Some(1.0),
                    "{m}"
                );
                break (e, g);
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no failure counted within 30 s:\n{m}\n{}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let last_error = failing["last_error"].as_str().unwrap_or("");
    assert!(last_error.contains("sales_duplicates"), "{failing}");
    // The errors go on rising, one a pass (a pass a second, slower on a loaded machine).
    let rising = Instant::now();
    let later = loop {
        let later = errors(&up.metrics().await.unwrap()).unwrap();
        if later >= first + 2.0 {
            break later;
        }
        assert!(
            rising.elapsed() < Duration::from_secs(30),
            "errors {first} then {later} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Logged at warn once (then once a minute), with the error.
    let log = up.output();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("guard pass failed") && l.contains("duplicates"))
        .collect();
    assert_eq!(warned.len(), 1, "one warning for {later} failures:\n{log}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("sales_duplicates"),
        "{}",
        warned[0]
    );
    // The page: once the guard has failed for over 30 s, a banner names it and its pill in
    // the health panel says since when. (Blocking calls, off the runtime's workers.)
    let page = up.url("/");
    let (mut browser, shown) = tokio::task::spawn_blocking(move || {
        let (mut browser, _) = crate::dashboard_browser::Browser::open(&page);
        let shown = browser.run(
            serde_json::json!({"cmd": "wait", "guard_failing": "duplicates", "timeout_ms": 60_000}),
            Duration::from_secs(70),
        );
        (browser, shown)
    })
    .await
    .unwrap();
    let banner = shown["banner_guard"].as_str().unwrap_or_default();
    assert!(
        banner.contains("sales_duplicates"),
        "the banner gives the error: {shown}"
    );

    // Back: the guard passes again and is no longer failing; the errors stay counted.
    env.root()
        .execute(&format!(
            "RENAME TABLE {db}.sales_duplicates_away TO {db}.sales_duplicates"
        ))
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(g) = guard(&up, "duplicates").await {
            if g["failing_since"].is_null() && g["passes"].as_u64() > before["passes"].as_u64() {
                // And the page takes the banner down.
                let cleared = tokio::task::spawn_blocking(move || {
                    browser.run(
                        serde_json::json!({"cmd": "wait", "guard_failing": null}),
                        Duration::from_secs(20),
                    )
                })
                .await
                .unwrap();
                assert_eq!(cleared["guards"]["duplicates"]["state"], "ok", "{cleared}");
                assert!(g["errors"].as_u64() >= Some(later as u64), "{g}");
                assert!(g["last_error"].as_str().is_some(), "{g}");
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the duplicate check did not recover within 30 s:\n{}",
            up.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    up.stop("INT");
    env.drop_database().await;
}
