//! `pipeline audit` against the real services: clean after a run, duplicates reported
//! without failing, and rows lost after ClickHouse committed them reported with exit 1.

use crate::common;

use std::time::Duration;

use crate::common::{generate_seeded, pipeline, pipeline_ok, stdout};
use serde::Deserialize;
use serde_json::Value;
use testkit::{wait_for, TestEnv};

fn audit(env: &TestEnv) -> (i32, Value) {
    let out = pipeline(env, &["audit", "--wait", "60s", "--json"]);
    let json = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("audit printed no JSON ({e}): {}", stdout(&out)));
    (out.status.code().unwrap_or(-1), json)
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_finds_duplicates_and_losses() {
    let env = TestEnv::new("audit").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let ledger = generate_seeded(&env, 5, 2000, &["--json"]);
    let ch = env.clickhouse.clone();
    let db = env.database.clone();
    #[derive(Deserialize)]
    struct N {
        n: u64,
    }
    wait_for("2000 rows", Duration::from_secs(90), || {
        let (ch, db) = (ch.clone(), db.clone());
        async move {
            let q = format!(
                "SELECT (SELECT count() FROM {db}.sales) + (SELECT count() FROM {db}.stock_movements) AS n"
            );
            ch.query_one::<N>(&q).await.ok().filter(|c| c.n >= 2000)
        }
    })
    .await;

    let (code, a) = audit(&env);
    assert_eq!(code, 0, "{a}");
    let (s, m) = (
        common::audit_topic(&a, "sales"),
        common::audit_topic(&a, "stock_movements"),
    );
    assert_eq!(
        s["produced"].as_i64().unwrap() + m["produced"].as_i64().unwrap(),
        2000,
        "{a}"
    );
    for t in [s, m] {
        assert_eq!(t["pending"], 0, "{t}");
        assert_eq!(t["consumed"], t["produced"], "{t}");
        assert_eq!(t["unique"].as_i64(), t["produced"].as_i64(), "{t}");
        assert_eq!(
            (t["duplicates"].as_u64(), t["missing"].as_u64()),
            (Some(0), Some(0)),
            "{t}"
        );
    }

    // The generator's ledger: everything it was acknowledged is on the broker.
    let dir = std::env::temp_dir().join(&env.database);
    std::fs::create_dir_all(&dir).unwrap();
    let ledger_file = dir.join("ledger.json");
    std::fs::write(&ledger_file, &ledger).unwrap();
    let ledger_arg = ledger_file.to_str().unwrap();
    let out = pipeline(&env, &["audit", "--json", "--ledger", ledger_arg]);
    let a: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{a}");
    for table in ["sales", "stock_movements"] {
        let t = common::audit_topic(&a, table);
        assert_eq!(t["acknowledged"], t["produced"], "{t}");
        assert_eq!(t["lost_by_broker"], 0, "{t}");
    }
    // A ledger that says more was acknowledged than the broker holds: lost by the broker.
    let claims_more = format!(
        "{}\n{{\"topics\":[{{\"topic\":\"{}\",\"events\":5,\"bad\":0}}]}}\n",
        ledger.trim(),
        env.sales_topic
    );
    std::fs::write(&ledger_file, claims_more).unwrap();
    let out = pipeline(&env, &["audit", "--ledger", ledger_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("LOST BY THE BROKER 5"),
        "{}",
        stdout(&out)
    );
    // And a file that is not a ledger is a clear error (exit 2, as every error).
    std::fs::write(&ledger_file, "topic events\n").unwrap();
    let out = pipeline(&env, &["audit", "--ledger", ledger_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a `pipeline generate --json` summary"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A row stored twice is a duplicate, not a loss.
    ch.execute(&format!(
        "INSERT INTO {db}.sales SELECT * FROM {db}.sales LIMIT 7"
    ))
    .await
    .unwrap();
    let (code, a) = audit(&env);
    assert_eq!(code, 0, "{a}");
    assert_eq!(common::audit_topic(&a, "sales")["duplicates"], 7, "{a}");
    assert_eq!(common::audit_topic(&a, "sales")["missing"], 0, "{a}");

    // Rows gone after ClickHouse committed them are missing, and the audit fails.
    let moves = common::audit_topic(&a, "stock_movements")["unique"]
        .as_u64()
        .unwrap();
    #[derive(Deserialize)]
    struct P {
        p: u32,
    }
    let parts: Vec<P> = ch
        .query(&format!(
            "SELECT DISTINCT toYYYYMM(event_time) AS p FROM {db}.stock_movements"
        ))
        .await
        .unwrap();
    for P { p } in parts {
        ch.execute(&format!(
            "ALTER TABLE {db}.stock_movements DROP PARTITION {p}"
        ))
        .await
        .unwrap();
    }
    let out = pipeline(&env, &["audit"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!("MISSING {moves} message(s)")),
        "{}",
        stdout(&out)
    );
    let (_, a) = audit(&env);
    assert_eq!(
        common::audit_topic(&a, "stock_movements")["missing"].as_u64(),
        Some(moves),
        "{a}"
    );
    env.drop_database().await;
}
