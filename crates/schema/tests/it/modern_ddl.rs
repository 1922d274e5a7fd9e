//! The DDL rendered for current ClickHouse (25.8) is valid and behaves: it is piped to
//! `tests/modern_clickhouse/check_ddl.py`, which runs it in chDB (an in-process current
//! ClickHouse). That script parses every statement, validates the Kafka tables' settings,
//! executes the rest with MergeTree stand-ins for the Kafka tables, and checks that rows with
//! Kafka virtual columns reach the target tables with exact values.
//!
//! The interpreter is `$CHDB_PYTHON` (default `python3`); `scripts/test` installs chDB into a
//! venv and sets it. Without chDB this test fails: it never skips.

use std::ffi::OsStr;

#[test]
fn ddl_for_25_8_runs_on_current_clickhouse() {
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
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let out = testkit::modern_clickhouse("check_ddl.py", &args, ddl);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the 25.8 DDL fails the chDB check ({}):\n{stdout}\n{}\n--- DDL ---\n{ddl}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
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
        let plan_file = std::env::temp_dir().join(testkit::unique_name("plan"));
        std::fs::write(&plan_file, serde_json::to_string(&statements).unwrap()).unwrap();
        let out = testkit::modern_clickhouse(
            "recreate_under_backlog.py",
            &[plan_file.as_os_str()],
            &schema::script(&before, version).unwrap(),
        );
        let _ = std::fs::remove_file(&plan_file);
        let out = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.contains("PASSED"), "{what}:\n{out}");
    }
}
