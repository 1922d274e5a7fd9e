//! `pipeline dead-letters`: refused messages of several kinds listed (JSON and table), shown
//! byte for byte, exported, replayed fixed (each lands once) and unfixed (a new dead letter
//! pointing to the first), a second replay refused unless --force, and the audit clean with
//! the replayed ones resolved. Hostile filter values, a wrong flag and an unknown id too.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{pipeline, pipeline_ok, stdout, Guards};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;
use testkit::TestEnv;

fn sale_json(id: &str, quantity: &str, price: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","event_type":"sale","event_time":"2026-11-25 10:00:00","product_id":7,"product_name":"Чайник","category":"Бытовая техника","quantity":{quantity},"price":{price},"discount":0.29,"total":142.14,"store_id":1,"cashier_id":2,"customer_id":"c-{id}"}}"#
    )
}

fn produce(env: &TestEnv, messages: &[Vec<u8>]) {
    let producer: BaseProducer = env.kafka.client_config().create().expect("producer");
    for m in messages {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(&env.sales_topic)
                    .partition(0)
                    .payload(m.as_slice()),
            )
            .expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");
}

async fn count(env: &TestEnv, sql: &str) -> u64 {
    #[derive(serde::Deserialize)]
    struct N {
        n: u64,
    }
    env.clickhouse
        .query_one::<N>(&sql.replace("{db}", &env.database))
        .await
        .map(|r| r.n)
        .unwrap_or(0)
}

/// Waits until `sql` (a count `n`, `{db}` for the database) equals `want`.
async fn wait_count(env: &TestEnv, sql: &str, want: u64, what: &str) {
    let start = Instant::now();
    loop {
        let n = count(env, sql).await;
        if n == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{what}: {n} after 120 s, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn list(env: &TestEnv, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["dead-letters", "list", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(pipeline_ok(env, &args).trim()).expect("one JSON array")
}

fn letter<'a>(letters: &'a [Value], id: &str) -> &'a Value {
    letters
        .iter()
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {letters:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_shown_exported_and_replayed() {
    let env = TestEnv::new("deadl").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let _guards = Guards::start(&env).await;
    let topic = env.sales_topic.clone();
    let id = |offset: i64| format!("{topic}:0:{offset}");

    let mut invalid_utf8 = sale_json("dl-4", "2", "100.1").into_bytes();
    let at = invalid_utf8
        .windows(2)
        .position(|w| w == "Ч".as_bytes())
        .unwrap();
    invalid_utf8[at + 1] = 0xff;
    // (bytes, reason) at offsets 0.., then one good sale.
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (
            br#"{"event_id":"dl-1","quantity":"#.to_vec(),
            "malformed JSON: not one flat JSON object",
        ),
        (
            sale_json("dl-2", "2", "\"12.50\"").into_bytes(),
            "price: missing or not a number",
        ),
        (
            sale_json("dl-3", "0", "100.1").into_bytes(),
            "quantity: must be at least 1",
        ),
        (invalid_utf8, "malformed JSON: not one flat JSON object"),
        (
            b"<img src=x onerror=alert(1)>".to_vec(),
            "malformed JSON: not one flat JSON object",
        ),
    ];
    let mut messages: Vec<Vec<u8>> = bad.iter().map(|(m, _)| m.clone()).collect();
    messages.push(sale_json("dl-good", "2", "100.1").into_bytes());
    produce(&env, &messages);
    let dead = "SELECT count() AS n FROM {db}.dead_letter";
    wait_count(&env, dead, 5, "dead letters").await;
    wait_count(&env, "SELECT count() AS n FROM {db}.sales", 1, "good sales").await;

    // list --json: each with its id, reason and exact bytes.
    let letters = list(&env, &[]);
    assert_eq!(letters.len(), 5, "{letters:?}");
    for (offset, (bytes, reason)) in bad.iter().enumerate() {
        let l = letter(&letters, &id(offset as i64));
        assert_eq!(l["reason"], *reason, "{l}");
        assert_eq!(l["bytes"], bytes.len(), "{l}");
        assert_eq!(l["replay_of"], Value::Null, "{l}");
        assert_eq!(l["replays"], 0, "{l}");
    }
    // The table names the reasons.
    let table = pipeline_ok(&env, &["dead-letters", "list"]);
    for (_, reason) in &bad {
        assert!(table.contains(reason), "{reason} not in\n{table}");
    }
    assert!(table.contains("5 dead letter(s)"), "{table}");
    // Filters, hostile ones included (quoted literals: they match nothing, break nothing).
    assert_eq!(list(&env, &["--reason", "QUANTITY"]).len(), 1);
    assert_eq!(
        list(&env, &["--reason", "malformed", "--limit", "2"]).len(),
        2
    );
    assert_eq!(list(&env, &["--topic", &topic, "--since", "1h"]).len(), 5);
    assert_eq!(list(&env, &["--until", "1h"]).len(), 0);
    for hostile in [
        "' OR 1=1 --",
        "x'); DROP TABLE dead_letter; --",
        "\\' OR '1'='1",
    ] {
        assert_eq!(list(&env, &["--reason", hostile]).len(), 0, "{hostile}");
        assert_eq!(list(&env, &["--topic", hostile]).len(), 0, "{hostile}");
    }
    assert_eq!(count(&env, dead).await, 5, "dead_letter intact");

    // show --raw: the exact bytes; show: escaped.
    for (offset, (bytes, _)) in bad.iter().enumerate() {
        let out = pipeline(&env, &["dead-letters", "show", &id(offset as i64), "--raw"]);
        assert!(out.status.success());
        assert_eq!(&out.stdout, bytes, "show --raw of offset {offset}");
    }
    let shown = pipeline_ok(&env, &["dead-letters", "show", &id(3)]);
    assert!(shown.contains("\\xFF"), "{shown}");
    assert!(shown.contains("malformed JSON"), "{shown}");
    let shown = pipeline_ok(&env, &["dead-letters", "show", &id(4)]);
    assert!(shown.contains("<img src=x onerror=alert(1)>"), "{shown}");

    // export: JSON lines, raw as hex.
    let export = pipeline_ok(&env, &["dead-letters", "export", "--topic", &topic]);
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 5);
    for (offset, (bytes, _)) in bad.iter().enumerate() {
        let l = letter(&lines, &id(offset as i64));
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(l["raw_hex"], hex);
        assert!(l["preview"].is_string());
    }

    // Wrong flag, unknown id, malformed id: clear errors.
    let out = pipeline(&env, &["dead-letters", "list", "--no-such-flag"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
    let out = pipeline(&env, &["dead-letters", "show", &id(99)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("no dead letter {}", id(99))), "{err}");
    let out = pipeline(&env, &["dead-letters", "replay", "sales-0-1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TOPIC:PARTITION:OFFSET"), "{err}");

    // Replay fixed versions of two: each lands exactly once.
    let dir = std::env::temp_dir().join(testkit::unique_name("fixed"));
    std::fs::create_dir_all(&dir).unwrap();
    let fixed = dir.join("fixed.jsonl");
    std::fs::write(
        &fixed,
        format!(
            "{}\n{}\n",
            serde_json::json!({"id": id(2), "raw": sale_json("dl-3", "1", "100.1")}),
            format_args!(
                r#"{{"id": "{}", "message": {}}}"#,
                id(1),
                sale_json("dl-2", "2", "12.5")
            ),
        ),
    )
    .unwrap();
    let out = pipeline_ok(
        &env,
        &["dead-letters", "replay", "--fixed", fixed.to_str().unwrap()],
    );
    assert!(out.contains("2 replayed"), "{out}");
    let sales_of =
        |event: &str| format!("SELECT count() AS n FROM {{db}}.sales WHERE event_id = '{event}'");
    wait_count(&env, &sales_of("dl-2"), 1, "dl-2 replayed").await;
    wait_count(&env, &sales_of("dl-3"), 1, "dl-3 replayed").await;

    // Replay one unfixed: refused again, a new dead letter pointing to the first.
    let out = pipeline_ok(&env, &["dead-letters", "replay", &id(0), "--json"]);
    let replayed: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(replayed.len(), 1, "{out}");
    let new_id = replayed[0]["new_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id(0));
    wait_count(&env, dead, 6, "the unfixed replay's dead letter").await;
    let letters = list(&env, &[]);
    let again = letter(&letters, &new_id);
    assert_eq!(again["replay_of"], id(0), "{again}");
    assert_eq!(again["reason"], bad[0].1);
    assert_eq!(letter(&letters, &id(0))["replays"], 1);
    let shown = pipeline_ok(&env, &["dead-letters", "show", &new_id]);
    assert!(
        shown.contains(&format!("replay of:   {}", id(0))),
        "{shown}"
    );
    let table = pipeline_ok(&env, &["dead-letters", "list"]);
    assert!(table.contains(&format!("replay of {}", id(0))), "{table}");

    // A second replay of the same id is refused; --force replays it (fixed, so it lands).
    let out = pipeline(&env, &["dead-letters", "replay", &id(0)]);
    assert!(!out.status.success(), "a second replay must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already replayed") && err.contains("--force"),
        "{err}"
    );
    let fixed_again = dir.join("fixed-again.jsonl");
    std::fs::write(
        &fixed_again,
        format!(
            r#"{{"id": "{}", "message": {}}}"#,
            id(0),
            sale_json("dl-1", "3", "100.1")
        ),
    )
    .unwrap();
    let fixed_again = fixed_again.to_str().unwrap();
    let out = pipeline(&env, &["dead-letters", "replay", "--fixed", fixed_again]);
    assert!(!out.status.success(), "refused without --force");
    pipeline_ok(
        &env,
        &["dead-letters", "replay", "--fixed", fixed_again, "--force"],
    );
    wait_count(&env, &sales_of("dl-1"), 1, "dl-1 replayed with --force").await;
    // Each replayed event once, still.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for event in ["dl-1", "dl-2", "dl-3"] {
        assert_eq!(count(&env, &sales_of(event)).await, 1, "{event} once");
    }
    assert_eq!(count(&env, dead).await, 6);

    // The audit is clean and reports the replayed ones as resolved: 0:0 (landed with
    // --force), its refused replay (its origin landed), 0:1 and 0:2; 0:3 and 0:4 open.
    let out = pipeline(&env, &["audit", "--json", "--wait", "30s"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    assert!(out.status.success(), "{report}");
    assert_eq!(report["missing"], 0, "{report}");
    let sales = common::audit_topic(&report, "sales");
    assert_eq!(sales["dead_lettered"], 6, "{report}");
    assert_eq!(sales["dead_replayed_landed"], 4, "{report}");
    assert_eq!(sales["dead_replayed_refused_again"], 0, "{report}");
    assert_eq!(sales["dead_open"], 2, "{report}");
    let text = stdout(&pipeline(&env, &["audit"]));
    assert!(
        text.contains(&format!(
            "dead letters of {topic}: 6 · resolved by a replay that landed 4"
        )),
        "{text}"
    );
    assert!(text.contains("still open 2"), "{text}");

    // Purge deletes what is older than the retention period, keeps the rest.
    env.clickhouse
        .execute(&format!(
            "INSERT INTO {}.dead_letter (received_at, topic, partition, offset, raw, reason) \
             VALUES (now() - 40 * 86400, 'old', 0, 1, 'x', 'old')",
            env.database
        ))
        .await
        .unwrap();
    let purged = pipeline_ok(&env, &["dead-letters", "purge"]);
    assert!(
        purged.contains("deleted 1 dead letter(s) older than 30 day(s)"),
        "{purged}"
    );
    assert_eq!(count(&env, dead).await, 6);
    let purged = pipeline_ok(
        &env,
        &["dead-letters", "purge", "--dead-letter-retention-days", "7"],
    );
    assert!(
        purged.contains("deleted 0 dead letter(s) older than 7 day(s)"),
        "{purged}"
    );

    let _ = std::fs::remove_dir_all(&dir);
    env.drop_database().await;
}
