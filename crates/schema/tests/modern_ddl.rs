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
