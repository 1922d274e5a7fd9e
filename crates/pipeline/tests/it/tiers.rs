//! Long ranges read sealed hours (migration 0006, `crates/reconcile/src/rollups.rs`), and
//! read them right: events spread over eight days give the page the same figures as the
//! raw tables before any hour is sealed (all read by the minute), once hours are sealed,
//! and again after a late event and a duplicate change hours sealed already.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{as_replayed, pipeline_ok, Server};
use generate::{Event, EventTime, Generator, GeneratorConfig};
use reconcile::duplicates::Duplicates;
use reconcile::rollups::Rollups;
use reconcile::Source;
use serde::Deserialize;
use serde_json::Value;
use testkit::TestEnv;

const N: u64 = 3000;
const SEED: u64 = 6;
const RANGES: [(&str, u32); 4] = [("15m", 900), ("1h", 3600), ("24h", 86_400), ("7d", 604_800)];

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// Seconds before `now` for event `i`: mostly over eight days, every tenth in the last 50
/// minutes; none within 10 minutes of a period boundary, so a request a minute later sees
/// the same events in each period.
fn ages(now: u32) -> Vec<u32> {
    let bounds: Vec<u32> = RANGES.iter().flat_map(|(_, s)| [*s, 2 * s]).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::new();
    while out.len() < N as usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let age = if out.len() % 10 == 0 {
            (x % 3000) as u32
        } else {
            (x % (8 * 86_400)) as u32
        };
        if bounds.iter().all(|b| age.abs_diff(*b) > 600) && age < now {
            out.push(age);
        }
    }
    out
}

/// The server's local time for each unix time (events carry local time).
async fn local_times(env: &TestEnv, times: &[u32]) -> Vec<String> {
    #[derive(Deserialize)]
    struct Row {
        t: Vec<String>,
    }
    let list = times
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",");
    env.clickhouse
        .query_one::<Row>(&format!(
            "SELECT arrayMap(x -> toString(toDateTime(x)), [{list}]) AS t"
        ))
        .await
        .unwrap()
        .t
}

/// Events at `times`, as replayed messages per topic (sales, warehouse).
async fn events_at(env: &TestEnv, seed: u64, times: &[u32]) -> [Vec<Vec<u8>>; 2] {
    let mut gen = Generator::new(&GeneratorConfig {
        seed: Some(seed),
        ..Default::default()
    })
    .unwrap();
    let mut out = [Vec::new(), Vec::new()];
    for local in local_times(env, times).await {
        let at = EventTime(local.as_bytes().try_into().unwrap());
        let event = gen.next_event(at);
        let mut json = Vec::new();
        event.write_json(&mut json);
        out[matches!(event, Event::StockMovement(_)) as usize].push(json);
    }
    out
}

/// The hours (unix time of their start, in the server's time zone) that hold an event of
/// [`events_at`]`(env, seed, times)`, per topic (sales, warehouse).
async fn event_hours(env: &TestEnv, seed: u64, times: &[u32]) -> [BTreeSet<u32>; 2] {
    let mut gen = Generator::new(&GeneratorConfig {
        seed: Some(seed),
        ..Default::default()
    })
    .unwrap();
    let mut out = [BTreeSet::new(), BTreeSet::new()];
    for (local, t) in local_times(env, times).await.into_iter().zip(times) {
        let event = gen.next_event(EventTime(local.as_bytes().try_into().unwrap()));
        // "YYYY-MM-DD HH:MM:SS": the hour began MM:SS before.
        let (mm, ss): (u32, u32) = (
            local[14..16].parse().unwrap(),
            local[17..19].parse().unwrap(),
        );
        out[matches!(event, Event::StockMovement(_)) as usize].insert(t - mm * 60 - ss);
    }
    out
}

/// How many of `hours` the reconcile loop seals at `now`: those over for its settle time.
fn ready(hours: &BTreeSet<u32>, now: u32) -> u64 {
    let settle = reconcile::rollups::SETTLE.as_secs() as u32;
    hours.iter().filter(|h| **h + 3600 + settle <= now).count() as u64
}

async fn replay(env: &TestEnv, messages: [Vec<Vec<u8>>; 2]) {
    let db = &env.database;
    let sources = Source::both(&env.sales_topic, &env.warehouse_topic, |t| {
        format!("clickhouse_{db}_{t}")
    });
    for (source, m) in sources.iter().zip(messages) {
        clickhouse_18_16::replay::insert(&env.clickhouse, db, source, &as_replayed(m))
            .await
            .unwrap();
    }
}

/// One period's figures, the page's way round: money in cents.
#[derive(Debug, Deserialize, PartialEq, Clone)]
struct Period {
    orders: u64,
    items: u64,
    cents: i64,
    customers: u64,
}

/// What one range of the overview should show, from one copy of each raw event.
#[derive(Debug, PartialEq)]
struct Figures {
    current: Period,
    previous: Period,
    categories: BTreeMap<String, (i64, u64)>,
    mix: BTreeMap<String, (u64, u64)>,
}

async fn raw_period(env: &TestEnv, lo: u32, hi: Option<u32>) -> Period {
    let db = &env.database;
    let upper = hi.map_or(String::new(), |h| {
        format!("AND event_time < toDateTime({h})")
    });
    env.clickhouse
        .query_one(&format!(
            "SELECT toUInt64(count()) AS orders, toUInt64(sum(quantity)) AS items, \
             toInt64(sum(toDecimal64(total, 2)) * 100) AS cents, \
             toUInt64(uniqCombined(13)(customer_id)) AS customers \
             FROM (SELECT * FROM {db}.sales LIMIT 1 BY event_id) \
             WHERE event_time >= toDateTime({lo}) {upper}"
        ))
        .await
        .unwrap()
}

async fn truth(env: &TestEnv, from: u32, seconds: u32) -> Figures {
    #[derive(Deserialize)]
    struct Category {
        category: String,
        cents: i64,
        orders: u64,
    }
    #[derive(Deserialize)]
    struct Mix {
        movement_type: String,
        events: u64,
        quantity: u64,
    }
    let db = &env.database;
    let categories: Vec<Category> = env
        .clickhouse
        .query(&format!(
            "SELECT category, toInt64(sum(toDecimal64(total, 2)) * 100) AS cents, \
             toUInt64(count()) AS orders FROM (SELECT * FROM {db}.sales LIMIT 1 BY event_id) \
             WHERE event_time >= toDateTime({from}) GROUP BY category"
        ))
        .await
        .unwrap();
    let mix: Vec<Mix> = env
        .clickhouse
        .query(&format!(
            "SELECT movement_type, toUInt64(count()) AS events, toUInt64(sum(quantity)) AS quantity \
             FROM (SELECT * FROM {db}.stock_movements LIMIT 1 BY event_id) \
             WHERE event_time >= toDateTime({from}) GROUP BY movement_type"
        ))
        .await
        .unwrap();
    Figures {
        current: raw_period(env, from, None).await,
        previous: raw_period(env, from - seconds, Some(from)).await,
        categories: categories
            .into_iter()
            .map(|c| (c.category, (c.cents, c.orders)))
            .collect(),
        mix: mix
            .into_iter()
            .map(|m| (m.movement_type, (m.events, m.quantity)))
            .collect(),
    }
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

fn shown_period(k: &Value, which: &str) -> Period {
    Period {
        orders: k["orders"][which].as_u64().unwrap(),
        items: k["items"][which].as_u64().unwrap(),
        cents: cents(&k["revenue"][which]),
        customers: k["unique_customers"][which].as_u64().unwrap(),
    }
}

/// What the overview of `range` shows, and what it should; the series adds up to the tiles.
async fn overview(server: &Server, env: &TestEnv, range: &str, seconds: u32) -> (Figures, Figures) {
    let ov = server
        .json(&format!("/api/overview?range={range}"), 200)
        .await;
    let k = &ov["kpis"];
    let series_orders: u64 = ov["series"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        series_orders,
        k["orders"]["value"].as_u64().unwrap(),
        "{range}: series"
    );
    let shown = Figures {
        current: shown_period(k, "value"),
        previous: shown_period(k, "previous"),
        categories: ov["revenue_by_category"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["category"].as_str().unwrap().to_string(),
                    (cents(&c["revenue"]), c["orders"].as_u64().unwrap()),
                )
            })
            .collect(),
        mix: ov["movement_mix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["movement_type"].as_str().unwrap().to_string(),
                    (
                        m["events"].as_u64().unwrap(),
                        m["quantity"].as_u64().unwrap(),
                    ),
                )
            })
            .collect(),
    };
    let from = ov["from"].as_u64().unwrap() as u32;
    (shown, truth(env, from, seconds).await)
}

/// /api/stock against the raw movements of the last 7 days.
async fn stock_top(server: &Server, env: &TestEnv) -> (Value, Value) {
    #[derive(Deserialize)]
    struct Row {
        name: String,
        incoming: u64,
        outgoing: u64,
    }
    let shown = server.json("/api/stock", 200).await;
    let db = &env.database;
    let rows: Vec<Row> = env
        .clickhouse
        .query(&format!(
            "SELECT any(product_name) AS name, \
             toUInt64(sumIf(quantity, movement_type = 'supply')) AS incoming, \
             toUInt64(sumIf(quantity, movement_type != 'supply')) AS outgoing \
             FROM (SELECT * FROM {db}.stock_movements LIMIT 1 BY event_id) \
             WHERE event_time >= now() - 604800 GROUP BY product_id \
             ORDER BY incoming + outgoing DESC, product_id LIMIT 5"
        ))
        .await
        .unwrap();
    let want = serde_json::json!({
        "products": rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        "incoming": rows.iter().map(|r| r.incoming).collect::<Vec<_>>(),
        "outgoing": rows.iter().map(|r| r.outgoing).collect::<Vec<_>>(),
    });
    (shown, want)
}

async fn page_is_exact(server: &Server, env: &TestEnv, when: &str) {
    for (range, seconds) in RANGES {
        let (shown, want) = overview(server, env, range, seconds).await;
        assert_eq!(shown, want, "{when}: /api/overview?range={range}");
    }
    let (shown, want) = stock_top(server, env).await;
    assert_eq!(shown, want, "{when}: /api/stock");
}

/// Hour tiers minus the minute tiers, per hour sealed: keys that differ.
async fn hours_off(env: &TestEnv) -> u64 {
    #[derive(Deserialize)]
    struct Off {
        n: u64,
    }
    let db = &env.database;
    env.clickhouse
        .query_one::<Off>(&format!(
            "SELECT toUInt64(count()) AS n FROM ( \
               SELECT hour, category, product_id, sum(o) AS o, sum(r) AS r FROM ( \
                 SELECT hour, category, product_id, sumMerge(orders) AS o, \
                        toDecimal128(sumMerge(revenue), 2) AS r FROM {db}.sales_by_hour \
                 GROUP BY hour, category, product_id \
                 UNION ALL \
                 SELECT toStartOfHour(minute) AS hour, category, product_id, -sumMerge(orders) AS o, \
                        -toDecimal128(sumMerge(revenue), 2) AS r FROM {db}.sales_by_minute \
                 WHERE toStartOfHour(minute) <= (SELECT max(hour) FROM {db}.sales_by_hour) \
                 GROUP BY hour, category, product_id) \
               GROUP BY hour, category, product_id HAVING o != 0 OR r != 0)"
        ))
        .await
        .unwrap()
        .n
}

async fn sealed_hours(env: &TestEnv) -> u64 {
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    env.clickhouse
        .query_one::<Count>(&format!(
            "SELECT toUInt64(uniqExact(hour)) AS n FROM {}.sales_by_hour",
            env.database
        ))
        .await
        .unwrap()
        .n
}

/// Records duplicates, then checks and seals until nothing more is to do: (hours sealed).
async fn seal(rollups: &mut Rollups, duplicates: &Duplicates) -> u64 {
    duplicates.pass().await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(120), rollups.catch_up())
        .await
        .expect("still sealing after 2 minutes")
        .unwrap();
    assert_eq!(done.corrected, 0, "nothing was cut short: {done:?}");
    done.hours_sealed
}

#[tokio::test(flavor = "multi_thread")]
async fn long_ranges_read_sealed_hours_and_stay_exact() {
    let env = TestEnv::new("tiers").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let now = unix_now();
    let times: Vec<u32> = ages(now).into_iter().map(|a| now - a).collect();
    replay(&env, events_at(&env, SEED, &times).await).await;
    let server = Server::start(env.pipeline_args()).await;

    // Nothing sealed: every figure read by the minute (and customers from the raw rows).
    assert_eq!(sealed_hours(&env).await, 0);
    page_is_exact(&server, &env, "before sealing").await;

    // The reconcile loop checks the minutes and seals every hour that is over.
    let db = env.database.clone();
    let mut rollups = Rollups::new(env.clickhouse.clone(), &db);
    let duplicates = Duplicates::new(env.clickhouse.clone(), &db);
    let [sale_hours, move_hours] = event_hours(&env, SEED, &times).await;
    let before = unix_now();
    let sealed = seal(&mut rollups, &duplicates).await;
    let after = unix_now();
    let hours = sealed_hours(&env).await;
    // Every hour with a sale that is over (and settled), each once; each family seals its
    // own. `before` and `after` agree unless the sealing ran across the moment an hour
    // became ready, which then may or may not have been sealed: only then is this a range.
    let want = ready(&sale_hours, before)..=ready(&sale_hours, after);
    assert!(
        want.contains(&hours),
        "{hours} hours of sales sealed, want {want:?} of {} hours with sales",
        sale_hours.len()
    );
    let want = ready(&sale_hours, before) + ready(&move_hours, before)
        ..=ready(&sale_hours, after) + ready(&move_hours, after);
    assert!(
        want.contains(&sealed),
        "{sealed} hours sealed in both families, want {want:?}"
    );
    assert_eq!(hours_off(&env).await, 0, "hour tier = minute tier");
    page_is_exact(&server, &env, "sealed").await;

    // A late sale three days back, and a second copy of an old one: the minute tier has
    // both at once; the sealed hours change only when sealed again, so until then the 7-day
    // tiles are the sealed ones.
    let (_, before) = overview(&server, &env, "7d", 604_800).await;
    let late = now - 3 * 86_400 - 1_234;
    let [mut sales, _] = events_at(&env, SEED + 1, &[late; 40]).await;
    sales.truncate(1);
    let copy: Vec<Vec<u8>> = events_at(&env, SEED, &times).await[0][500..501].to_vec();
    sales.extend(copy);
    replay(&env, [sales, Vec::new()]).await;
    let (shown, _) = overview(&server, &env, "7d", 604_800).await;
    assert_eq!(
        shown.current.orders, before.current.orders,
        "7d tiles come from the sealed hours"
    );
    seal(&mut rollups, &duplicates).await;
    assert_eq!(hours_off(&env).await, 0, "hour tier = minute tier again");
    let (shown, want) = overview(&server, &env, "7d", 604_800).await;
    assert_eq!(
        want.current.orders,
        before.current.orders + 1,
        "one late sale"
    );
    assert_eq!(shown, want, "after sealing again");
    page_is_exact(&server, &env, "sealed again").await;

    // The newest minute, sealed while it was quiet and then written to again (a stream that
    // pauses for a few seconds): its customers are read from the raw rows until it is
    // sealed again, not from its partial seal.
    let live = unix_now();
    replay(&env, events_at(&env, SEED + 2, &[live; 100]).await).await;
    seal(&mut rollups, &duplicates).await;
    replay(&env, events_at(&env, SEED + 3, &[live; 100]).await).await;
    let (shown, want) = overview(&server, &env, "15m", 900).await;
    assert_eq!(shown, want, "a minute sealed before it was over");
    env.drop_database().await;
}
