//! Nothing lost, nothing counted twice, against the real broker and ClickHouse:
//! a Kafka table stopped by bytes its reader cannot take is rescued with every message
//! accounted for, events delivered twice leave the figures exact, and every bad message of
//! `generate --bad-ratio` becomes one dead letter.

use crate::common;

use std::time::Duration;

use crate::common::{generate_seeded, pipeline_ok, produce, Guards};
use clickhouse_18_16::rescue::Rescue;
use clickhouse_18_16::verify::Verify;
use reconcile::duplicates::Duplicates;
use reconcile::Source;
use serde::Deserialize;
use testkit::{wait_for, TestEnv};

fn sale_json(id: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","event_type":"sale","event_time":"2026-11-25 10:00:00","product_id":7,"product_name":"Чайник","category":"Бытовая техника","quantity":2,"price":100.1,"discount":0.29,"total":142.14,"store_id":1,"cashier_id":2,"customer_id":"c-{id}"}}"#
    )
}

#[derive(Deserialize, Debug, PartialEq)]
struct Landed {
    rows: u64,
    dead: u64,
}

async fn landed(env: &TestEnv) -> Option<Landed> {
    let db = &env.database;
    env.clickhouse
        .query_one(&format!(
            "SELECT (SELECT count() FROM {db}.sales) AS rows, (SELECT count() FROM {db}.dead_letter) AS dead"
        ))
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_table_stopped_by_a_message_it_cannot_read_is_rescued_and_every_message_accounted_for(
) {
    let env = TestEnv::new("rescue").await;
    pipeline_ok(&env, &["schema", "apply", "--kafka-max-block-size", "1000"]);
    let db = &env.database;
    let version = env.clickhouse.version().await.unwrap();
    let on_18_16 =
        schema::Dialect::for_version(version).unwrap() == schema::Dialect::ClickHouse1816;
    // 20 good, one that 18.16's raw CSV reader throws on (a DEL, its field delimiter, and a
    // lone CR), 20 good. The engine retries it for ever; the rescue must move it on.
    let mut batch: Vec<Vec<u8>> = (0..20)
        .map(|i| sale_json(&format!("a{i}")).into_bytes())
        .collect();
    batch.push(b"{\"event_id\":\"cr\"\x7f\r oops".to_vec());
    batch.extend((0..20).map(|i| sale_json(&format!("b{i}")).into_bytes()));
    produce(&env, &env.sales_topic, &batch);

    let sources = Source::both(&env.sales_topic, &env.warehouse_topic, |t| {
        format!("clickhouse_{db}_{t}")
    });
    let mut rescue = Rescue::new(
        env.clickhouse.clone(),
        db,
        env.kafka.clone(),
        sources.clone(),
        Duration::from_secs(3),
    );
    let mut verify = Verify::new(env.clickhouse.clone(), db, env.kafka.clone(), sources);
    let mut rescued = 0;
    let start = std::time::Instant::now();
    let got = loop {
        if let Ok(r) = rescue.check().await {
            rescued += r.iter().map(|r| r.messages).sum::<u64>();
        }
        verify.pass().await.unwrap();
        if let Some(l) = landed(&env).await.filter(|l| l.rows == 40 && l.dead == 1) {
            break l;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not rescued within 60 s: {:?}",
            landed(&env).await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(got, Landed { rows: 40, dead: 1 });
    if on_18_16 {
        assert!(
            rescued > 0,
            "18.16 stalls on a lone CR, so the rescue must have run"
        );
    }
    #[derive(Deserialize)]
    struct Dead {
        partition: i32,
        offset: i64,
        raw: String,
        reason: String,
    }
    let dead: Dead = env
        .clickhouse
        .query_one(&format!(
            "SELECT partition, offset, raw, reason FROM {}.dead_letter",
            env.database
        ))
        .await
        .unwrap();
    // All in partition 0: the replay door (or the stream mode) knows the message's place.
    assert_eq!((dead.partition, dead.offset), (0, 20));
    assert_eq!(
        dead.raw, "{\"event_id\":\"cr\"\x7f\r oops",
        "bytes as produced"
    );
    assert!(dead.reason.starts_with("malformed JSON"), "{}", dead.reason);

    // The table consumes again by itself afterwards.
    produce(&env, &env.sales_topic, &[sale_json("after").into_bytes()]);
    wait_for(
        "the re-attached table to consume",
        Duration::from_secs(60),
        || async { landed(&env).await.filter(|l| l.rows == 41) },
    )
    .await;
    env.drop_database().await;
}

#[derive(Deserialize, Debug, PartialEq)]
struct Figures {
    rows: u64,
    unique: u64,
    orders: i64,
    items: i64,
    revenue: String,
}

/// Messages the ClickHouse groups have not consumed yet, from `pipeline audit` (whose exit
/// code may say "missing" while a block is being written).
fn pending(env: &TestEnv) -> i64 {
    let out = common::pipeline(env, &["audit", "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    audit["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pending"].as_i64().unwrap())
        .sum()
}

async fn settle(env: &TestEnv) -> Figures {
    let start = std::time::Instant::now();
    let (mut last, mut same) = (None, 0);
    loop {
        let f = figures(env).await;
        same = if pending(env) == 0 && last.as_ref() == Some(&f) {
            same + 1
        } else {
            0
        };
        if same >= 2 && f.rows > 0 {
            return f;
        }
        last = Some(f);
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "never settled: {last:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn figures(env: &TestEnv) -> Figures {
    let db = &env.database;
    env.clickhouse
        .query_one(&format!(
            "SELECT (SELECT count() FROM {db}.sales) AS rows, \
                    (SELECT uniqExact(event_id) FROM {db}.sales) AS unique, \
                    (SELECT sumMerge(orders) FROM {db}.sales_by_minute) AS orders, \
                    (SELECT sumMerge(items) FROM {db}.sales_by_minute) AS items, \
                    (SELECT toString(sumMerge(revenue)) FROM {db}.sales_by_minute) AS revenue"
        ))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_delivered_twice_are_counted_once() {
    let env = TestEnv::new("dedup").await;
    pipeline_ok(&env, &["schema", "apply", "--kafka-max-block-size", "1000"]);
    // As in `pipeline up`: the verifier and the rescue run beside the engine.
    let _guards = Guards::start(&env).await;
    let summary: serde_json::Value =
        serde_json::from_str(generate_seeded(&env, 11, 2_000, &["--json"]).trim()).unwrap();
    let produced_sales = summary["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == env.sales_topic.as_str())
        .unwrap()["events"]
        .as_u64()
        .unwrap();
    let db = &env.database;
    // Settled: nothing pending and the same figures three polls running. Every event is
    // there: what 18.16's engine commits unwritten (it reads one message past a full block)
    // the verifier replays.
    let before = settle(&env).await;
    assert_eq!(before.unique, produced_sales, "{before:?}");
    assert!(before.rows == before.unique && before.orders as u64 == before.rows);
    // At-least-once: every message delivered again through the other door into the same
    // views, as a rescue that crashed before its commit does. (The engine's own
    // redeliveries, after a kill -9 of ClickHouse, are in tests/it/faults.rs. Rewinding the
    // group here would need a DETACH, and 18.16 destroying a consumer has aborted the
    // server: see ARCHITECTURE.md.)
    let messages = tokio::task::block_in_place(|| common::read_all(&env, &env.sales_topic));
    let copies = common::as_replayed(messages);
    let sales = &Source::both(&env.sales_topic, &env.warehouse_topic, |t| {
        format!("clickhouse_{db}_{t}")
    })[0];
    clickhouse_18_16::replay::insert(&env.clickhouse, db, sales, &copies)
        .await
        .unwrap();
    let doubled = figures(&env).await;
    assert_eq!(doubled.rows, 2 * before.rows, "{doubled:?}");
    assert_eq!(doubled.unique, before.unique);
    assert_eq!(
        doubled.orders as u64, doubled.rows,
        "before the check the rollup counts every copy"
    );
    let check = Duplicates::new(env.clickhouse.clone(), db);
    let pass = check.pass().await.unwrap();
    assert_eq!(
        pass.recorded,
        doubled.rows - doubled.unique,
        "every doubled event recorded once"
    );
    let after = figures(&env).await;
    assert_eq!(
        (after.orders, after.items, after.revenue.clone()),
        (before.orders, before.items, before.revenue.clone()),
        "the rollups are exact again"
    );
    assert_eq!(
        check.pass().await.unwrap().recorded,
        0,
        "a second pass records nothing"
    );
    assert_eq!(figures(&env).await.orders, before.orders);
    env.drop_database().await;
}

#[derive(Deserialize, Debug)]
struct DeadLetters {
    letters: u64,
    placed: u64,
    distinct_places: u64,
    unexplained: u64,
}

/// Messages of the JSON types current ClickHouse's reader would convert silently ("12.50"
/// for a number; a number, object or array read as a string's text), over 64 KiB, or
/// breaking JSON's grammar in ways a lax reader takes; each wrong in one way, so a dead
/// letter on every server family.
fn hand_made_bad_messages() -> [Vec<Vec<u8>>; 2] {
    let sale = |id: &str, change: &str| -> Vec<u8> {
        let base = sale_json(id);
        let (field, value) = change.split_once('=').unwrap();
        let start = base.find(&format!("\"{field}\":")).unwrap() + field.len() + 3;
        let end = start + base[start..].find([',', '}']).unwrap();
        // Numbers end at a comma; a string value holds none in sale_json.
        let end = if base[start..].starts_with('"') {
            start + 1 + base[start + 1..].find('"').unwrap() + 1
        } else {
            end
        };
        format!("{}{value}{}", &base[..start], &base[end..]).into_bytes()
    };
    let move_json = |id: &str, quantity: &str, movement: &str| -> Vec<u8> {
        format!(r#"{{"event_id":"{id}","event_type":"stock_movement","event_time":"2026-11-25 10:00:00","product_id":7,"product_name":"Чайник","category":"Бытовая техника","warehouse":"Москва","quantity":{quantity},"movement_type":{movement},"source":"ООО","responsible":"Иван"}}"#).into_bytes()
    };
    let mut invalid_utf8 = sale("bad-hand-utf8", "product_name=\"Ча\u{1}\"");
    let at = invalid_utf8.iter().position(|b| *b == 1).unwrap();
    invalid_utf8[at] = 0xff;
    let sales = vec![
        sale("bad-hand-1", "price=\"12.50\""),
        sale("bad-hand-2", "quantity=\"2\""),
        sale("bad-hand-3", "quantity=2.0"),
        sale("bad-hand-4", "customer_id=12345"),
        sale("bad-hand-5", "product_name={\"ru\":\"Чайник\"}"),
        sale("bad-hand-6", "category=[\"Книги\"]"),
        sale(
            "bad-hand-7",
            &format!("product_name=\"{}\"", "x".repeat(70_000)),
        ),
        sale("bad-hand-8", "quantity=02"),
        sale("bad-hand-9", "product_name=\"tab\there\""),
        sale("bad-hand-10", "product_name=\"\\q\""),
        format!("[{}]", sale_json("bad-hand-11")).into_bytes(),
        invalid_utf8,
    ];
    let moves = vec![
        move_json("bad-hand-w1", "\"5\"", "\"supply\""),
        move_json("bad-hand-w2", "5", "7"),
        move_json("bad-hand-w3", "5", "[\"supply\"]"),
    ];
    [sales, moves]
}

/// `pipeline generate --bad-ratio` at 5 %, and messages of wrong JSON types made by hand:
/// every bad message becomes one dead letter with its topic, partition, offset and a reason,
/// every good one lands once, and the audit finds nothing missing. The same messages fed to
/// the current-ClickHouse DDL in chDB meet exactly the same fate: the same reason for the
/// same message, or a row.
#[tokio::test(flavor = "multi_thread")]
async fn every_bad_message_becomes_one_dead_letter_and_every_good_one_lands() {
    let env = TestEnv::new("dead").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let _guards = Guards::start(&env).await;
    let [hand_sales, hand_moves] = hand_made_bad_messages();
    let hand_made = (hand_sales.len() + hand_moves.len()) as u64;
    produce(&env, &env.sales_topic, &hand_sales);
    produce(&env, &env.warehouse_topic, &hand_moves);
    let summary: serde_json::Value = serde_json::from_str(
        generate_seeded(&env, 5, 3_000, &["--bad-ratio", "0.05", "--json"]).trim(),
    )
    .unwrap();
    let total = |field: &str| -> u64 {
        summary["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[field].as_u64().unwrap())
            .sum()
    };
    let (events, bad) = (total("events"), total("bad") + hand_made);
    // Seed 5, 3,000 messages at 5 %: the generator draws 162 bad ones (seeded, so exact).
    assert_eq!((events, bad - hand_made), (2_838, 162), "{summary}");
    let db = &env.database;
    let start = std::time::Instant::now();
    let (landed, dead) = loop {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Now {
            unique: u64,
            dead: u64,
        }
        let now: Now = env
            .clickhouse
            .query_one(&format!(
                "SELECT (SELECT uniqExact(event_id) FROM {db}.sales) \
                      + (SELECT uniqExact(event_id) FROM {db}.stock_movements) AS unique, \
                        (SELECT count() FROM {db}.dead_letter) AS dead"
            ))
            .await
            .unwrap();
        if now.unique == events && now.dead >= bad {
            break (now.unique, now.dead);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "after 120 s: {now:?}, want {events} events and {bad} dead letters"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(
        (landed, dead),
        (events, bad),
        "one dead letter per bad message"
    );
    let letters: DeadLetters = env
        .clickhouse
        .query_one(&format!(
            "SELECT count() AS letters, \
                    countIf(partition >= 0 AND offset >= 0) AS placed, \
                    uniqExact(topic, partition, offset) AS distinct_places, \
                    countIf(reason = '') AS unexplained \
             FROM {db}.dead_letter"
        ))
        .await
        .unwrap();
    assert_eq!(letters.letters, bad, "{letters:?}");
    assert_eq!(
        letters.placed, bad,
        "each with its partition and offset: {letters:?}"
    );
    assert_eq!(letters.distinct_places, bad, "{letters:?}");
    assert_eq!(letters.unexplained, 0, "{letters:?}");
    let audit = common::pipeline(&env, &["audit", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["missing"], 0, "{report}");
    assert!(audit.status.success(), "{report}");

    // The same messages through the current-ClickHouse DDL (chDB): the same dead letters.
    #[derive(Deserialize)]
    struct Letter {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    }
    let letters: Vec<Letter> = env
        .clickhouse
        .query(&format!(
            "SELECT topic, partition, offset, reason FROM {db}.dead_letter"
        ))
        .await
        .unwrap();
    let on_18_16: std::collections::BTreeMap<_, _> = letters
        .into_iter()
        .map(|l| ((l.topic, l.partition, l.offset), l.reason))
        .collect();
    let sales = common::read_all_placed(&env, &env.sales_topic);
    let moves = common::read_all_placed(&env, &env.warehouse_topic);
    let messages: Vec<_> = sales
        .iter()
        .map(|m| ("sales_kafka", env.sales_topic.as_str(), m))
        .chain(
            moves
                .iter()
                .map(|m| ("warehouse_kafka", env.warehouse_topic.as_str(), m)),
        )
        .collect();
    let current = common::outcomes_on_current_clickhouse(&env, &messages);
    assert_eq!(current.len(), messages.len(), "an outcome per message");
    let mut differ = Vec::new();
    for ((topic, partition, offset), (reasons, rows)) in &current {
        let old = on_18_16.get(&(topic.clone(), *partition, *offset));
        let same = match old {
            Some(reason) => reasons == std::slice::from_ref(reason) && *rows == 0,
            None => reasons.is_empty() && *rows == 1,
        };
        if !same {
            differ.push(format!(
                "{topic}/{partition}/{offset}: 18.16 {old:?}, current {reasons:?} and {rows} row(s)"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} messages meet another fate on current ClickHouse:\n{}",
        differ.len(),
        messages.len(),
        differ.join("\n")
    );
    let refused = current.values().filter(|(r, _)| !r.is_empty()).count() as u64;
    assert_eq!(refused, bad, "the same {bad} dead letters on both families");
    env.drop_database().await;
}

/// The rollups and what one copy of each event in the raw tables says they should hold.
#[derive(Deserialize, Debug, PartialEq, Clone)]
struct RollupFigures {
    orders: i64,
    items: i64,
    revenue: String,
    customers: u64,
    stock_events: i64,
    stock_quantity: i64,
    /// stock_levels keys whose level differs from the raw table's.
    levels_off: u64,
}

async fn rollup_figures(env: &TestEnv, from_raw: bool) -> RollupFigures {
    let db = &env.database;
    let q = if from_raw {
        format!(
            "SELECT toInt64(count()) AS orders, sum(toInt64(quantity)) AS items, \
                    toString(sum(toDecimal64(total, 2))) AS revenue, uniqExact(customer_id) AS customers, \
                    (SELECT toInt64(count()) FROM (SELECT * FROM {db}.stock_movements LIMIT 1 BY event_id)) AS stock_events, \
                    (SELECT sum(toInt64(quantity)) FROM (SELECT * FROM {db}.stock_movements LIMIT 1 BY event_id)) AS stock_quantity, \
                    toUInt64(0) AS levels_off \
             FROM (SELECT * FROM {db}.sales LIMIT 1 BY event_id)"
        )
    } else {
        format!(
            "SELECT sumMerge(orders) AS orders, sumMerge(items) AS items, \
                    toString(sumMerge(revenue)) AS revenue, uniqExactMerge(customers) AS customers, \
                    (SELECT sumMerge(events) FROM {db}.stock_by_minute) AS stock_events, \
                    (SELECT sumMerge(quantity) FROM {db}.stock_by_minute) AS stock_quantity, \
                    {} AS levels_off \
             FROM {db}.sales_by_minute",
            common::stock_levels_off(db)
        )
    };
    env.clickhouse.query_one(&q).await.unwrap()
}

/// A Kafka block reaches its targets one view at a time; a server killed in between leaves
/// it in some and not others, and the engine delivers it to all of them again. Here the
/// cut-short halves are written by hand (a block in `sales_by_minute` and `stock_by_minute`
/// only, one in `stock_levels` only, copies in the raw tables only) and the rollup check
/// must bring every rollup back to one copy of each event, then write nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn a_fan_out_cut_short_is_corrected_in_every_rollup() {
    let env = TestEnv::new("cut").await;
    let db = &env.database;
    // A block of 40 movements from `offset` on that reached stock_levels only.
    let stock_levels_only = |offset: u32| {
        format!(
            "INSERT INTO {db}.stock_levels SELECT warehouse, product_id, product_name, \
             sum(if(movement_type = 'supply', toInt64(quantity), toInt64(0))), \
             sum(if(movement_type = 'relocation', toInt64(quantity), toInt64(0))), \
             sum(if(movement_type = 'write_off', toInt64(quantity), toInt64(0))) \
             FROM (SELECT * FROM {db}.stock_movements ORDER BY event_id LIMIT 40 OFFSET {offset}) \
             GROUP BY warehouse, product_id, product_name"
        )
    };
    pipeline_ok(&env, &["schema", "apply", "--kafka-max-block-size", "1000"]);
    let guards = Guards::start(&env).await;
    generate_seeded(&env, 13, 3_000, &[]);
    settle(&env).await;
    drop(guards);
    // The engine delivers at least once (seen on a loaded machine: all 2,120 sales twice in
    // the raw table and the rollups): the duplicate check takes copies out of the rollups,
    // as `up` runs it, before the cuts below are made.
    Duplicates::new(env.clickhouse.clone(), db)
        .pass()
        .await
        .unwrap();
    let want = rollup_figures(&env, true).await;
    assert_eq!(
        rollup_figures(&env, false).await,
        want,
        "exact before the cuts"
    );
    for cut in [
        // A block that reached the minute rollups and not the raw tables.
        format!(
            "INSERT INTO {db}.sales_by_minute SELECT toStartOfMinute(event_time) AS m, category, product_id, \
             sumState(toInt64(1)), sumState(toInt64(quantity)), sumState(toDecimal64(total, 2)), \
             uniqExactState(customer_id) \
             FROM (SELECT * FROM {db}.sales ORDER BY event_id LIMIT 100) GROUP BY m, category, product_id"
        ),
        format!(
            "INSERT INTO {db}.stock_by_minute SELECT toStartOfMinute(event_time) AS m, warehouse, product_id, \
             product_name, movement_type, sumState(toInt64(1)), sumState(toInt64(quantity)) \
             FROM (SELECT * FROM {db}.stock_movements ORDER BY event_id LIMIT 80) GROUP BY m, warehouse, product_id, product_name, movement_type"
        ),
        // One that reached stock_levels only.
        stock_levels_only(200),
        // Copies that reached the raw table only: the duplicate ledger subtracts them from
        // rollups that never held them.
        format!("INSERT INTO {db}.sales SELECT * FROM {db}.sales ORDER BY event_id LIMIT 50 OFFSET 500"),
    ] {
        env.clickhouse.execute(&cut).await.unwrap();
    }
    let duplicates = Duplicates::new(env.clickhouse.clone(), db);
    assert_eq!(duplicates.pass().await.unwrap().recorded, 50);
    let cut = rollup_figures(&env, false).await;
    assert_eq!(cut.orders, want.orders + 100 - 50, "{cut:?}");
    assert_eq!(cut.stock_events, want.stock_events + 80, "{cut:?}");
    assert!(cut.levels_off > 0, "{cut:?}");

    let mut rollups = reconcile::rollups::Rollups::new(env.clickhouse.clone(), db);
    let start = std::time::Instant::now();
    let mut corrected = 0;
    loop {
        corrected += rollups.pass().await.unwrap().corrected;
        let now = rollup_figures(&env, false).await;
        if now == want {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not corrected: {now:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(corrected > 0);
    let took = start.elapsed();
    // The audit tells: each rollup counts the unique events, and how many corrections it got.
    let audit: serde_json::Value =
        serde_json::from_slice(&common::pipeline(&env, &["audit", "--json"]).stdout).unwrap();
    for t in audit["topics"].as_array().unwrap() {
        assert_eq!(t["counted"].as_u64(), t["unique"].as_u64(), "{t}");
    }
    assert!(
        audit["topics"][0]["rollup_corrections"].as_u64().unwrap() > 0,
        "{audit}"
    );
    // The corrections' own parts are checked once more and found equal: nothing more.
    let still = std::time::Instant::now();
    while still.elapsed() < reconcile::rollups::SETTLE + Duration::from_secs(3) {
        assert_eq!(rollups.pass().await.unwrap().corrected, 0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(rollup_figures(&env, false).await, want);
    // A restart goes on from the saved watermarks: it looks again at the last few
    // single-block parts only, and writes nothing.
    let mut restarted = reconcile::rollups::Rollups::new(env.clickhouse.clone(), db);
    let again = std::time::Instant::now();
    loop {
        let pass = restarted.pass().await.unwrap();
        assert_eq!(pass.corrected, 0, "{pass:?}");
        if pass.minutes_pending == 0 {
            break;
        }
        assert!(again.elapsed() < Duration::from_secs(20), "{pass:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "cut: corrected in {took:?}, {corrected} correction rows; restart settled in {:?}",
        again.elapsed()
    );
    // A block cut short just before `up` stops: up's last pass (`catch_up`) corrects
    // stock_levels before it returns, not a period later in an up that no longer runs
    // (seen: 213 keys left off after an outage test stopped up 7 s after catching up).
    env.clickhouse
        .execute(&stock_levels_only(400))
        .await
        .unwrap();
    assert!(rollup_figures(&env, false).await.levels_off > 0);
    let last = reconcile::rollups::Rollups::new(env.clickhouse.clone(), db)
        .catch_up()
        .await
        .unwrap();
    assert!(last.corrected > 0, "{last:?}");
    assert_eq!(rollup_figures(&env, false).await, want);
    env.drop_database().await;
}
