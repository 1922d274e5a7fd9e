//! The current-ClickHouse flow run whole in chDB (`tests/modern_clickhouse/flow.py`), fed
//! exactly what the broker holds after `pipeline generate --bad-ratio 0.05`, every figure
//! compared with the generator's ledger: raw tables, dead letters, the duplicate check after
//! redelivered copies, the rollup check, the seals and every page query.

use crate::common::{generate_seeded, read_all_placed, write_placed_messages};
use testkit::TestEnv;

/// Seed 3: 3,000 messages, 5 % of them bad, of every kind the generator makes.
const SEED: u64 = 3;

/// The checks flow.py must name, each on an `ok   <name>:` line.
fn check_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "input sales events",
        "input sales bad",
        "input sales quantity",
        "input sales total_cents",
        "input warehouse events",
        "input warehouse bad",
        "input warehouse quantity",
        "sales rows",
        "sales quantity",
        "sales total_cents",
        "sales placement",
        "dead_letter sales",
        "stock_movements rows",
        "stock_movements quantity",
        "stock_movements placement",
        "dead_letter warehouse",
        "dead_letter placement",
        "dedup first pass",
        "redelivered sales rows",
        "redelivered stock_movements rows",
        "dedup records the copies",
        "redelivered again sales rows",
        "redelivered again stock_movements rows",
        "dedup records the new copies",
        "dedup copies_removed",
        "dedup last pass",
        "rollup check corrections",
        "sales_by_minute totals",
        "stock_by_minute totals",
        "sales_by_minute customers",
        "stock_levels moved",
        "sales_by_hour totals",
        "stock_by_hour totals",
        "customers_by_hour customers",
        "seal again writes nothing",
    ]
    .map(String::from)
    .to_vec();
    for phase in ["minutes", "hours"] {
        let ranges = ["15m", "1h", "24h", "7d"];
        // Each at now(), and "cut": the period boundary right after the data's newest minute.
        let cut = ranges.map(|r| format!("{r} cut"));
        for range in ranges.map(String::from).into_iter().chain(cut) {
            for figure in [
                "orders items kopecks",
                "previous",
                "per bucket",
                "per category",
                "customers",
                "movement mix",
            ] {
                names.push(format!("{phase} overview {range} {figure}"));
            }
        }
        names.push(format!("{phase} overview 7d = ledger"));
        names.push(format!("{phase} overview 7d movement mix = ledger"));
        for page in [
            "last 24 hours",
            "sales hourly per hour",
            "sales hourly = ledger",
            "stock top",
            "recent sales",
            "stock levels",
            "stock levels = ledger",
            "stock levels by product",
            "existing tables",
            "status",
            "dead letters",
            "latest dead letters",
            "latest dead letters bytes",
            "audit sales",
            "audit stock_movements",
            "landed event ids sales",
            "landed event ids stock_movements",
        ] {
            names.push(format!("{phase} {page}"));
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_clickhouse_flow_in_chdb_equals_the_ledger() {
    let env = TestEnv::new("flow").await;
    let ledger = generate_seeded(&env, SEED, 3_000, &["--bad-ratio", "0.05", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(ledger.trim()).unwrap();
    let bad: u64 = summary["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["bad"].as_u64().unwrap())
        .sum();
    assert!(
        bad > 100,
        "the generator made {bad} bad messages: {summary}"
    );

    let sales = read_all_placed(&env, &env.sales_topic);
    let moves = read_all_placed(&env, &env.warehouse_topic);
    let messages: Vec<_> = sales
        .iter()
        .map(|m| ("sales_kafka", env.sales_topic.as_str(), m))
        .chain(
            moves
                .iter()
                .map(|m| ("warehouse_kafka", env.warehouse_topic.as_str(), m)),
        )
        .collect();
    assert_eq!(messages.len(), 3_000, "every message read back");
    let dir = std::env::temp_dir().join(testkit::unique_name("flow"));
    std::fs::create_dir_all(&dir).unwrap();
    let (messages_file, ledger_file) = (dir.join("messages.jsonl"), dir.join("ledger.json"));
    write_placed_messages(&messages_file, &messages);
    println!(
        "messages and ledger in {} (removed if the test passes)",
        dir.display()
    );
    std::fs::write(&ledger_file, &ledger).unwrap();

    let mut config = schema::SchemaConfig::new(&env.database, &env.kafka.brokers);
    config.sales_topic = env.sales_topic.clone();
    config.warehouse_topic = env.warehouse_topic.clone();
    let ddl = schema::script(&config, "25.8".parse().unwrap()).expect("the 25.8 DDL");
    let start = std::time::Instant::now();
    let out = testkit::modern_clickhouse(
        "flow.py",
        &[messages_file.as_os_str(), ledger_file.as_os_str()],
        &ddl,
    );
    println!("flow.py ran {:.1} s", start.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "flow.py failed ({}): see its output above",
        out.status
    );
    let ok: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ok   "))
        .filter_map(|l| l.split_once(": ").map(|(name, _)| name))
        .collect();
    let names = check_names();
    let missing: Vec<&String> = names.iter().filter(|n| !ok.contains(&n.as_str())).collect();
    assert!(missing.is_empty(), "checks not run: {missing:?}");
    let unknown: Vec<&&str> = ok
        .iter()
        .filter(|n| !names.iter().any(|m| m == *n))
        .collect();
    assert!(
        unknown.is_empty(),
        "checks this test does not list: {unknown:?}"
    );
    assert_eq!(ok.len(), names.len(), "each check once");
    assert!(
        !stdout.contains("FAILED") && !stdout.contains("WARN"),
        "a failure or a warning in the output"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
