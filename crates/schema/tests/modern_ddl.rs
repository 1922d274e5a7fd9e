//! The DDL rendered for current ClickHouse (25.8) is valid and behaves: it is piped to
//! `tests/modern_clickhouse/check_ddl.py`, which runs it in chDB (an in-process current
//! ClickHouse). That script parses every statement, validates the Kafka tables' settings,
//! executes the rest with MergeTree stand-ins for the Kafka tables, and checks that rows with
//! Kafka virtual columns reach the target tables with exact values.
//!
//! The interpreter is `$CHDB_PYTHON` (default `python3`); `scripts/test` installs chDB into a
//! venv and sets it. Without chDB this test fails: it never skips.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn python() -> String {
    std::env::var("CHDB_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn check_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/modern_clickhouse/check_ddl.py")
}

#[test]
fn ddl_for_25_8_runs_on_current_clickhouse() {
    let python = python();
    let probe = Command::new(&python)
        .args(["-c", "import chdb"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the Python interpreter {python:?} (set CHDB_PYTHON): {e}")
        });
    assert!(
        probe.status.success(),
        "chdb is not importable by {python:?}: {}\n\
         Run `scripts/test` (it installs chDB into a venv and sets CHDB_PYTHON), or \
         `pip install -r tests/modern_clickhouse/requirements.txt` (chdb-core) for that interpreter.",
        String::from_utf8_lossy(&probe.stderr).trim()
    );

    // With SASL, so chDB's Kafka engine validates those settings too.
    let mut config = schema::SchemaConfig::new("shop", "kafka:9092");
    config.kafka_security = Some(schema::KafkaSecurity {
        protocol: "sasl_plaintext".into(),
        sasl_mechanism: Some("SCRAM-SHA-256".into()),
        sasl_username: Some("pipeline".into()),
        sasl_password: Some("not-a-secret".into()),
    });
    let ddl = schema::script(&config, "25.8".parse().unwrap()).expect("render the DDL for 25.8");
    assert!(ddl.contains("kafka_sasl_username = 'pipeline'"), "{ddl}");
    assert!(
        !ddl.contains("not-a-secret"),
        "the printed DDL hides the password"
    );

    check(&ddl, &[]);
}

/// A cluster whose shards have replicas: every statement ON CLUSTER, every table Replicated.
/// chDB has no Keeper to run them, so the check parses them only.
#[test]
fn cluster_ddl_with_replicas_parses_on_current_clickhouse() {
    let mut config = schema::SchemaConfig::new("shop", "kafka:9092");
    config.cluster = Some("retail".into());
    config.replicated = true;
    let ddl = schema::script(&config, "25.8".parse().unwrap()).expect("render the DDL for 25.8");
    assert!(ddl.contains("CREATE TABLE IF NOT EXISTS shop.sales ON CLUSTER retail"));
    assert!(ddl.contains(
        "ReplicatedAggregatingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')"
    ));
    assert!(ddl.contains("CREATE MATERIALIZED VIEW shop.sales_corrections_mv ON CLUSTER retail TO"));
    let out = check(&ddl, &["--parse-only"]);
    assert!(out.contains("parse only"), "{out}");
}

/// Pipes `ddl` to the check with `args`; panics with its output unless it passes.
fn check(ddl: &str, args: &[&str]) -> String {
    let python = python();
    let script = check_script();
    let mut child = Command::new(&python)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", script.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ddl.as_bytes())
        .expect("write the DDL to the check");
    let out = child.wait_with_output().expect("wait for the check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture, and on failure.
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the 25.8 DDL fails the chDB check ({}):\n{stdout}\n{stderr}\n--- DDL ---\n{ddl}",
        out.status
    );
    assert!(
        stdout.contains("PASSED"),
        "the check did not report PASSED:\n{stdout}"
    );
    stdout.into_owned()
}

/// Re-creating ingest objects while messages wait loses none on current ClickHouse: the
/// statements `apply` would run (`schema::plan_ingest`) are run in chDB by
/// `tests/modern_clickhouse/recreate_under_backlog.py`, with a block of waiting messages
/// delivered before and after each one wherever a view reads the Kafka table, as the engine
/// streams. Three changes: a new broker address (the Kafka tables and every view), a view's
/// SQL changed by a new release, and a pending migration (every view dropped first).
#[test]
fn recreating_ingest_objects_under_a_backlog_loses_nothing() {
    let before = schema::SchemaConfig::new("shop", "kafka:9092");
    let version: schema::ServerVersion = "25.8".parse().unwrap();
    let old = schema::render(&before, version).unwrap();
    let existing: std::collections::BTreeSet<String> =
        old.ingest.iter().map(|(n, _, _)| n.to_string()).collect();
    let recorded: std::collections::BTreeMap<String, String> = old
        .ingest
        .iter()
        .map(|(n, _, sql)| (n.to_string(), schema::checksum(sql)))
        .collect();
    let mut moved = before.clone();
    moved.brokers = "kafka-new:9092".into();
    let mut view_changed = recorded.clone();
    view_changed.insert("sales_dead_letter_mv".into(), "a release ago".into());
    for (what, after, recorded, migrating) in [
        ("a new broker address", &moved, &recorded, false),
        ("a view's SQL changed", &before, &view_changed, false),
        ("a pending migration", &before, &recorded, true),
    ] {
        let new = schema::render(after, version).unwrap();
        let plan = schema::plan_ingest(&new, "shop", &existing, recorded, migrating, None);
        let statements: Vec<String> = plan
            .stop
            .iter()
            .cloned()
            .chain(plan.start.iter().map(|s| match s {
                schema::Start::Run(sql) | schema::Start::Create(_, sql) => sql.clone(),
            }))
            .collect();
        assert!(
            statements.iter().any(|s| s.contains("sales_parse_mv")),
            "{what}: the plan re-creates the sales chain: {statements:#?}"
        );
        let out = run_script(
            "recreate_under_backlog.py",
            &schema::script(&before, version).unwrap(),
            &[serde_json::to_string(&statements).unwrap()],
        );
        assert!(out.contains("PASSED"), "{what}:\n{out}");
    }
}

/// Runs `script` from tests/modern_clickhouse with `ddl` on stdin; each of `files` is written
/// to a temporary file passed as an argument. Panics with the output unless it exits 0.
fn run_script(script: &str, ddl: &str, files: &[String]) -> String {
    let dir = std::env::temp_dir().join(format!("modern_ddl_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let p = dir.join(format!("arg{i}.json"));
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    let python = python();
    let path = check_script().with_file_name(script);
    let mut child = Command::new(&python)
        .arg(&path)
        .args(&paths)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", path.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ddl.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{text}",
        out.status
    );
    text
}
