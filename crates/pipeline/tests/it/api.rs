//! The dashboard's HTTP API (`pipeline serve`) against the real broker and ClickHouse, with
//! known data: seeded events go through Kafka, and every figure the API answers is checked
//! against what the same seed rebuilds here, exactly (money to the cent), as are the health
//! figures, every `/metrics` family and the stream's pace. Then bad input, a page client that
//! ClickHouse refuses writes from, and a ClickHouse that does not answer.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{free_port, generate_seeded, pipeline_ok, Server};
use generate::{Event, EventTime, Generator, GeneratorConfig, SaleEvent, StockMovementEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use testkit::{wait_for, TestEnv};

const N: u64 = 3000;
const SEED: u64 = 20_251_125;

// ---------------------------------------------------------------------------- expected data

/// What `pipeline generate --seed` produced, rebuilt (timestamps aside).
struct Produced {
    sales: Vec<SaleEvent>,
    moves: Vec<StockMovementEvent>,
}

fn produced(seed: u64, n: u64) -> Produced {
    let mut gen = Generator::new(&GeneratorConfig {
        seed: Some(seed),
        ..Default::default()
    })
    .unwrap();
    let at = EventTime(*b"2026-01-01 00:00:00");
    let mut p = Produced {
        sales: Vec::new(),
        moves: Vec::new(),
    };
    for _ in 0..n {
        match gen.next_event(at) {
            Event::Sale(s) => p.sales.push(s),
            Event::StockMovement(m) => p.moves.push(m),
        }
    }
    p
}

impl Produced {
    fn revenue_cents(&self) -> i64 {
        self.sales.iter().map(|s| s.total.0).sum()
    }
    fn items(&self) -> u64 {
        self.sales.iter().map(|s| s.quantity as u64).sum()
    }
    fn customers(&self) -> u64 {
        self.sales
            .iter()
            .map(|s| s.customer_id)
            .collect::<BTreeSet<_>>()
            .len() as u64
    }
    fn move_quantity(&self) -> u64 {
        self.moves.iter().map(|m| m.quantity as u64).sum()
    }
    /// Revenue per order in cents, halves rounded up, computed exactly.
    fn avg_ticket_cents(&self) -> i64 {
        let (c, n) = (self.revenue_cents(), self.sales.len() as i64);
        (2 * c + n) / (2 * n)
    }
    /// (category, revenue cents, orders), by revenue descending then category.
    fn by_category(&self) -> Vec<(String, i64, u64)> {
        let mut m: BTreeMap<&str, (i64, u64)> = BTreeMap::new();
        for s in &self.sales {
            let e = m.entry(s.category).or_default();
            e.0 += s.total.0;
            e.1 += 1;
        }
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(c, (r, o))| (c.to_string(), r, o))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
    /// movement_type → (events, quantity).
    fn mix(&self) -> BTreeMap<String, (u64, u64)> {
        let mut m = BTreeMap::new();
        for x in &self.moves {
            let e: &mut (u64, u64) = m.entry(x.movement_type.as_str().to_string()).or_default();
            e.0 += 1;
            e.1 += x.quantity as u64;
        }
        m
    }
    /// (warehouse, product id or 0) → [supplied, relocated, written_off].
    fn levels(&self, by_product: bool) -> BTreeMap<(String, u32), [u64; 3]> {
        let mut m = BTreeMap::new();
        for x in &self.moves {
            let key = (
                x.warehouse.to_string(),
                if by_product { x.product_id } else { 0 },
            );
            let e: &mut [u64; 3] = m.entry(key).or_default();
            let i = match x.movement_type.as_str() {
                "supply" => 0,
                "relocation" => 1,
                _ => 2,
            };
            e[i] += x.quantity as u64;
        }
        m
    }
    /// The 5 products that moved most: (name, incoming, outgoing), ties by product id.
    fn stock_top(&self) -> Vec<(String, u64, u64)> {
        let mut m: BTreeMap<u32, (&str, u64, u64)> = BTreeMap::new();
        for x in &self.moves {
            let e = m.entry(x.product_id).or_insert((x.product_name, 0, 0));
            if x.movement_type.as_str() == "supply" {
                e.1 += x.quantity as u64;
            } else {
                e.2 += x.quantity as u64;
            }
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| {
            (b.1 .1 + b.1 .2)
                .cmp(&(a.1 .1 + a.1 .2))
                .then(a.0.cmp(&b.0))
        });
        v.into_iter()
            .take(5)
            .map(|(_, (n, i, o))| (n.to_string(), i, o))
            .collect()
    }
}

/// Waits until every event is in the raw tables and in all three rollups.
async fn wait_landed(env: &TestEnv, p: &Produced) {
    common::wait_landed(
        env,
        p.sales.len() as u64,
        p.moves.len() as u64,
        p.move_quantity(),
        Duration::from_secs(90),
    )
    .await;
}

// ---------------------------------------------------------------------------- JSON helpers

/// A money figure as whole cents, checking it has no more than two decimals.
fn cents(v: &Value) -> i64 {
    let f = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    let c = (f * 100.0).round();
    assert!((f * 100.0 - c).abs() < 1e-3, "{v} is not whole cents");
    c as i64
}

fn uint(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not an unsigned integer"))
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{v} is not an array"))
}

/// `/metrics` as (family, type) in order and sample lines, checking that each family has
/// its HELP line and each sample follows its own family's TYPE line.
fn parse_metrics(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let (mut families, mut samples) = (Vec::new(), Vec::new());
    let mut help: Option<&str> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, what) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(!what.trim().is_empty(), "{name} has no help text:\n{text}");
            help = Some(name);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            assert_eq!(help, Some(name), "TYPE {name} after its HELP:\n{text}");
            families.push((name.to_string(), kind.to_string()));
        } else {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert_eq!(
                families.last().map(|f: &(String, String)| f.0.as_str()),
                Some(name),
                "sample {line:?} under its own family:\n{text}"
            );
            samples.push(line.to_string());
        }
    }
    (families, samples)
}

/// The `snapshot` events of `/api/stream?range=...` that arrive within `window` of the
/// request, each with the seconds it took to arrive.
async fn snapshots(base: &str, range: &str, window: Duration) -> Vec<(f64, Value)> {
    let path = format!("/api/stream?range={range}");
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + window;
    let mut r = reqwest::get(format!("{base}{path}"))
        .await
        .expect("the stream answers");
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/event-stream"), "content type {ct}");
    let (mut buf, mut out) = (String::new(), Vec::new());
    while let Ok(chunk) = tokio::time::timeout_at(deadline, r.chunk()).await {
        let chunk = chunk.expect("stream chunk").expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for snap in common::sse_snapshots(&mut buf) {
            out.push((start.elapsed().as_secs_f64(), snap));
        }
    }
    out
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

// ---------------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread")]
async fn api_answers_exactly_what_the_seeded_events_add_up_to() {
    let env = TestEnv::new("api").await;
    pipeline_ok(&env, &["schema", "apply"]);
    generate_seeded(&env, SEED, N, &[]);
    let p = produced(SEED, N);
    wait_landed(&env, &p).await;
    let server = Server::start(env.pipeline_args()).await;

    let (n_sales, n_moves) = (p.sales.len() as u64, p.moves.len() as u64);
    let revenue = p.revenue_cents();
    #[derive(Deserialize)]
    struct Estimate {
        n: u64,
    }
    let estimate = env
        .clickhouse
        .query_one::<Estimate>(&format!(
            "SELECT toUInt64(uniqCombined(13)(customer_id)) AS n FROM {}.sales",
            env.database
        ))
        .await
        .unwrap()
        .n;

    // ---- /api/overview, every range: the same totals, and nothing before them.
    for range in ["15m", "1h", "24h", "7d"] {
        let before = unix_now();
        let ov = server
            .json(&format!("/api/overview?range={range}"), 200)
            .await;
        let after = unix_now();
        let what = format!("/api/overview?range={range}");
        assert_eq!(ov["range"], range, "{what}");
        let k = &ov["kpis"];
        assert_eq!(cents(&k["revenue"]["value"]), revenue, "{what}: revenue");
        assert_eq!(uint(&k["orders"]["value"]), n_sales, "{what}: orders");
        assert_eq!(uint(&k["items"]["value"]), p.items(), "{what}: items");
        // An estimate (uniqCombined(13), migration 0006): the one ClickHouse gives for the
        // raw rows in one go, whichever tiers it was merged from, and near the truth.
        let customers = uint(&k["unique_customers"]["value"]);
        assert_eq!(customers, estimate, "{what}: unique customers");
        assert!(
            customers.abs_diff(p.customers()) * 50 <= p.customers(),
            "{what}: unique customers {customers} vs {} exactly",
            p.customers()
        );
        assert_eq!(
            cents(&k["avg_ticket"]["value"]),
            p.avg_ticket_cents(),
            "{what}: average ticket = {revenue} cents / {n_sales} orders"
        );
        for name in [
            "revenue",
            "orders",
            "items",
            "avg_ticket",
            "unique_customers",
        ] {
            assert_eq!(
                k[name]["previous"].as_f64(),
                Some(0.0),
                "{what}: {name}.previous"
            );
        }

        // The window: whole buckets up to the current minute, zero-filled.
        let (seconds, bucket) = match range {
            "15m" => (900, 60),
            "1h" => (3600, 60),
            "24h" => (86_400, 3600),
            _ => (604_800, 3600),
        };
        assert_eq!(uint(&ov["bucket_seconds"]), bucket, "{what}");
        let (from, to) = (uint(&ov["from"]) as u32, uint(&ov["to"]) as u32);
        assert!(
            to >= before - before % 60 && to <= after - after % 60,
            "{what}: to {to} is the current minute ({before}..{after})"
        );
        assert_eq!(from, to + 60 - seconds, "{what}: from");
        let s = &ov["series"];
        let t: Vec<u64> = arr(&s["t"]).iter().map(uint).collect();
        let first = (from - from % bucket as u32) as u64;
        let want_t: Vec<u64> = (0..)
            .map(|i| first + i * bucket)
            .take_while(|&x| x <= to as u64)
            .collect();
        assert_eq!(t, want_t, "{what}: series.t");
        assert_eq!(arr(&s["orders"]).len(), t.len(), "{what}");
        assert_eq!(arr(&s["items"]).len(), t.len(), "{what}");
        assert_eq!(arr(&s["revenue"]).len(), t.len(), "{what}");
        assert_eq!(
            arr(&s["orders"]).iter().map(uint).sum::<u64>(),
            n_sales,
            "{what}: series orders"
        );
        assert_eq!(
            arr(&s["items"]).iter().map(uint).sum::<u64>(),
            p.items(),
            "{what}: series items"
        );
        assert_eq!(
            arr(&s["revenue"]).iter().map(cents).sum::<i64>(),
            revenue,
            "{what}: series revenue"
        );

        // Per category, ordered by revenue.
        let got: Vec<(String, i64, u64)> = arr(&ov["revenue_by_category"])
            .iter()
            .map(|c| {
                (
                    c["category"].as_str().unwrap().to_string(),
                    cents(&c["revenue"]),
                    uint(&c["orders"]),
                )
            })
            .collect();
        assert_eq!(got, p.by_category(), "{what}: revenue_by_category");

        let got: BTreeMap<String, (u64, u64)> = arr(&ov["movement_mix"])
            .iter()
            .map(|m| {
                (
                    m["movement_type"].as_str().unwrap().to_string(),
                    (uint(&m["events"]), uint(&m["quantity"])),
                )
            })
            .collect();
        assert_eq!(got, p.mix(), "{what}: movement_mix");
        let order: Vec<&str> = arr(&ov["movement_mix"])
            .iter()
            .map(|m| m["movement_type"].as_str().unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{what}: mix order {order:?}"
        );

        check_levels(&ov["stock_levels"], &p, false, &what);
    }

    // ---- /api/stock_levels, per warehouse and per warehouse and product.
    check_levels(
        &server.json("/api/stock_levels", 200).await,
        &p,
        false,
        "/api/stock_levels",
    );
    check_levels(
        &server.json("/api/stock_levels?by=warehouse", 200).await,
        &p,
        false,
        "by=warehouse",
    );
    check_levels(
        &server.json("/api/stock_levels?by=product", 200).await,
        &p,
        true,
        "by=product",
    );

    // ---- /api/sales: the contract's shape; everything is in the current hour's bucket.
    #[derive(Deserialize)]
    struct Span {
        lo: u32,
        hi: u32,
        newest: String,
    }
    let span: Span = env
        .clickhouse
        .query_one(&format!(
            "SELECT toUInt32(min(event_time)) AS lo, toUInt32(max(event_time)) AS hi, \
             toString(max(event_time)) AS newest FROM {}.sales",
            env.database
        ))
        .await
        .unwrap();
    let before = unix_now();
    let sales = server.json("/api/sales", 200).await;
    let after = unix_now();
    let labels: Vec<&str> = arr(&sales["labels"])
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 24, "24 labels: {labels:?}");
    for l in &labels {
        let b = l.as_bytes();
        assert!(
            b.len() == 5
                && b[2] == b':'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 2 || c.is_ascii_digit()),
            "label {l:?} is HH:MM"
        );
    }
    let hour = |l: &str| l[..2].parse::<u32>().unwrap();
    for w in labels.windows(2) {
        assert_eq!(
            (hour(w[0]) + 1) % 24,
            hour(w[1]),
            "successive hours: {labels:?}"
        );
        assert_eq!(
            w[0][3..],
            w[1][3..],
            "same minute in every label: {labels:?}"
        );
    }
    let quantity: Vec<u64> = arr(&sales["quantity"]).iter().map(uint).collect();
    let revenue_h: Vec<i64> = arr(&sales["revenue"]).iter().map(cents).collect();
    assert_eq!(
        (quantity.len(), revenue_h.len()),
        (24, 24),
        "/api/sales arrays"
    );
    assert_eq!(
        quantity.iter().sum::<u64>(),
        p.items(),
        "/api/sales quantity"
    );
    assert_eq!(revenue_h.iter().sum::<i64>(), revenue, "/api/sales revenue");
    if span.lo / 3600 == before / 3600 && after / 3600 == before / 3600 {
        assert_eq!(
            quantity[23],
            p.items(),
            "the last hour holds every item: {quantity:?}"
        );
        assert_eq!(
            revenue_h[23], revenue,
            "the last hour holds all revenue: {revenue_h:?}"
        );
    } else {
        // The events or the request straddle an hour: the last two buckets hold everything.
        assert_eq!(quantity[22] + quantity[23], p.items(), "{quantity:?}");
    }
    assert!(span.hi <= after + 5, "event times are now");

    // ---- /api/stock: top 5 products by movement volume.
    let stock = server.json("/api/stock", 200).await;
    let got: Vec<(String, u64, u64)> = (0..arr(&stock["products"]).len())
        .map(|i| {
            (
                stock["products"][i].as_str().unwrap().to_string(),
                uint(&stock["incoming"][i]),
                uint(&stock["outgoing"][i]),
            )
        })
        .collect();
    assert_eq!(arr(&stock["incoming"]).len(), got.len());
    assert_eq!(arr(&stock["outgoing"]).len(), got.len());
    assert_eq!(got, p.stock_top(), "/api/stock");

    // ---- /api/recent_sales: 10 produced sales, newest first.
    let recent = server.json("/api/recent_sales", 200).await;
    let recent = arr(&recent);
    assert_eq!(recent.len(), 10, "{recent:?}");
    let sold: BTreeSet<(u64, u64, i64)> = p
        .sales
        .iter()
        .map(|s| (s.product_id as u64, s.quantity as u64, s.price.0))
        .collect();
    for r in recent {
        let key = (
            uint(&r["product_id"]),
            uint(&r["quantity"]),
            cents(&r["price"]),
        );
        assert!(
            sold.contains(&key),
            "recent sale {r} is one that was produced"
        );
        let et = r["event_time"].as_str().unwrap();
        assert_eq!(et.len(), 19, "event_time {et:?} is YYYY-MM-DD HH:MM:SS");
    }
    let times: Vec<&str> = recent
        .iter()
        .map(|r| r["event_time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert_eq!(times[0], span.newest, "the first is the newest sale");

    // ---- /api/status
    let st = server.json("/api/status", 200).await;
    assert_eq!(st["status"], "ready", "{st}");
    assert_eq!(st["tables_exist"], true, "{st}");
    assert_eq!(uint(&st["sales_count"]), n_sales, "{st}");
    assert_eq!(uint(&st["stock_count"]), n_moves, "{st}");
    let existing: Vec<&str> = arr(&st["existing_tables"])
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        existing.contains(&"sales") && existing.contains(&"stock_movements"),
        "{st}"
    );

    // ---- /api/health: measured once a second in the background. Nothing is produced and
    // nothing lands while the server runs: once two measurements are a second apart, every
    // topic shows what was produced, ClickHouse's group has committed all of it, the rates
    // are 0 and nothing is stalled.
    let want_topics: Vec<Value> = [
        (&env.sales_topic, "sales", n_sales),
        (&env.warehouse_topic, "stock_movements", n_moves),
    ]
    .iter()
    .map(|(topic, table, n)| {
        json!({"topic": topic, "table": table, "rows": n, "broker_end_offset": n, "lag": 0,
               "produced_per_s": 0.0, "landed_per_s": 0.0, "stalled_for_s": null,
               "dead_letters": 0})
    })
    .collect();
    let start = Instant::now();
    let health = loop {
        let h = server.json("/api/health", 200).await;
        if h["topics"].as_array() == Some(&want_topics) && h["clickhouse"]["ok"] == true {
            break h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "/api/health within 20 s: want topics {want_topics:?}, have {h}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        health["clickhouse"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())),
        "{health}"
    );
    assert_eq!(health["clickhouse"]["error"], Value::Null, "{health}");
    assert_eq!(health["clickhouse"]["down_since"], Value::Null, "{health}");
    assert_eq!(
        health["broker"],
        json!({"ok": true, "error": null, "down_since": null}),
        "{health}"
    );
    // Latency comes from the local generator's probe events: serve has neither.
    assert_eq!(
        health["latency_ms"],
        json!({"p50": null, "p95": null, "samples": 0}),
        "{health}"
    );
    assert_eq!(
        health["generator"],
        Value::Null,
        "serve runs no generator: {health}"
    );

    // ---- /healthz, /metrics: every family the server has, with the figures above.
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_string()));
    let (code, metrics) = server.get("/metrics").await;
    assert_eq!(code, 200);
    let (families, samples) = parse_metrics(&metrics);
    assert_eq!(
        families,
        [
            ("pipeline_clickhouse_up", "gauge"),
            ("pipeline_broker_up", "gauge"),
            ("pipeline_table_rows", "gauge"),
            ("pipeline_table_landed_per_second", "gauge"),
            ("pipeline_topic_messages_total", "counter"),
            ("pipeline_topic_produced_per_second", "gauge"),
            ("pipeline_consumer_lag", "gauge"),
            ("pipeline_consumer_stalled_seconds", "gauge"),
            ("pipeline_dead_letters", "gauge"),
            ("pipeline_produce_to_queryable_seconds", "summary"),
        ]
        .map(|(n, t)| (n.to_string(), t.to_string())),
        "/metrics families (the generator's two and the guards' come only with `up`):\n{metrics}"
    );
    // The rates depend on when the monitor last measured: not compared here.
    let samples: Vec<String> = samples
        .into_iter()
        .filter(|s| !s.contains("_per_second{"))
        .collect();
    let (s, w) = (&env.sales_topic, &env.warehouse_topic);
    // Nothing is stalled and there is no latency probe: those two families have no sample.
    assert_eq!(
        samples,
        [
            "pipeline_clickhouse_up 1".to_string(),
            "pipeline_broker_up 1".to_string(),
            format!("pipeline_table_rows{{table=\"sales\"}} {n_sales}"),
            format!("pipeline_table_rows{{table=\"stock_movements\"}} {n_moves}"),
            format!("pipeline_topic_messages_total{{topic=\"{s}\"}} {n_sales}"),
            format!("pipeline_topic_messages_total{{topic=\"{w}\"}} {n_moves}"),
            format!("pipeline_consumer_lag{{topic=\"{s}\"}} 0"),
            format!("pipeline_consumer_lag{{topic=\"{w}\"}} 0"),
            format!("pipeline_dead_letters{{topic=\"{s}\"}} 0"),
            format!("pipeline_dead_letters{{topic=\"{w}\"}} 0"),
        ],
        "/metrics samples:\n{metrics}"
    );

    // ---- /api/stream: one snapshot at once, then one a second on a fixed beat: at least 4
    // within 5 s (5 on time; one fewer allows for a slow start on a loaded machine), each
    // newer than the one before (no part shown twice), each with every part and the same
    // figures.
    let stream_start = unix_now();
    let snaps = snapshots(&server.base, "15m", Duration::from_secs(5)).await;
    let at: Vec<u64> = snaps.iter().map(|(_, s)| uint(&s["at"])).collect();
    let at_ms: Vec<u64> = snaps.iter().map(|(_, s)| uint(&s["at_ms"])).collect();
    let received: Vec<String> = snaps.iter().map(|(t, _)| format!("{t:.2}s")).collect();
    assert!(
        snaps.len() >= 4,
        "{} snapshots in 5 s: at {at:?}, received after {received:?}",
        snaps.len()
    );
    assert!(
        // The first may reuse answers the requests above made up to a second before.
        at[0] + 1 >= stream_start as u64 && at_ms.windows(2).all(|w| w[1] > w[0]),
        "each snapshot newer than the last (stream opened at {stream_start}): at_ms {at_ms:?}"
    );
    assert!(
        at.iter().zip(&at_ms).all(|(s, ms)| *s == ms / 1000),
        "at is at_ms in seconds: {at:?} {at_ms:?}"
    );
    let stock = server.json("/api/stock", 200).await;
    for (_, snap) in &snaps {
        for key in [
            "at",
            "at_ms",
            "range",
            "status",
            "overview",
            "health",
            "sales",
            "stock",
            "recent_sales",
            "error",
        ] {
            assert!(snap.get(key).is_some(), "snapshot has {key:?}: {snap}");
        }
        assert_eq!(snap["range"], "15m");
        assert_eq!(snap["error"], Value::Null, "{}", snap["error"]);
        assert_eq!(snap["overview"]["range"], "15m");
        assert_eq!(uint(&snap["overview"]["kpis"]["orders"]["value"]), n_sales);
        assert_eq!(
            cents(&snap["overview"]["kpis"]["revenue"]["value"]),
            revenue
        );
        assert_eq!(uint(&snap["status"]["sales_count"]), n_sales);
        assert_eq!(uint(&snap["status"]["stock_count"]), n_moves);
        assert_eq!(arr(&snap["recent_sales"]).len(), 10);
        assert_eq!(snap["stock"], stock);
        assert_eq!(snap["health"]["topics"], health["topics"]);
        assert_eq!(snap["health"]["clickhouse"]["ok"], true);
    }

    drop(server);
    env.drop_database().await;
}

/// `stock_levels` rows against the produced movements; level = supplied − relocated − written_off.
fn check_levels(v: &Value, p: &Produced, by_product: bool, what: &str) {
    let rows = arr(v);
    let mut got = BTreeMap::new();
    let mut keys = Vec::new();
    for r in rows {
        let w = r["warehouse"].as_str().unwrap().to_string();
        let id = if by_product {
            uint(&r["product_id"]) as u32
        } else {
            0
        };
        if by_product {
            let name = p
                .moves
                .iter()
                .find(|m| m.product_id == id)
                .map(|m| m.product_name);
            assert_eq!(
                r["product_name"].as_str(),
                name,
                "{what}: product name of {r}"
            );
        } else {
            assert!(
                r.get("product_id").is_none(),
                "{what}: no product per warehouse: {r}"
            );
        }
        let s = [
            uint(&r["supplied"]),
            uint(&r["relocated"]),
            uint(&r["written_off"]),
        ];
        assert_eq!(
            r["level"].as_i64(),
            Some(s[0] as i64 - s[1] as i64 - s[2] as i64),
            "{what}: level of {r}"
        );
        keys.push((w.clone(), id));
        got.insert((w, id), s);
    }
    assert!(
        keys.windows(2).all(|k| k[0] < k[1]),
        "{what}: ordered by warehouse: {keys:?}"
    );
    assert_eq!(got, p.levels(by_product), "{what}: stock levels");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_and_paths_are_refused() {
    let env = TestEnv::new("api_bad").await;
    let server = Server::start(env.pipeline_args()).await;
    for (path, status, mention) in [
        ("/api/overview?range=2h", 400, "15m, 1h, 24h, 7d"),
        (
            "/api/overview?range=1h%27%20OR%201%3D1",
            400,
            "15m, 1h, 24h, 7d",
        ),
        ("/api/overview?range=", 400, "15m, 1h, 24h, 7d"),
        ("/api/overview?range=1h&x=1", 400, "\"x\""),
        ("/api/sales?x=1", 400, "\"x\""),
        ("/api/stock?range=1h", 400, "\"range\""),
        ("/api/recent_sales?limit=100", 400, "\"limit\""),
        ("/api/status?x=1", 400, "\"x\""),
        ("/api/health?x=1", 400, "\"x\""),
        ("/api/stock_levels?by=nope", 400, "warehouse or product"),
        ("/api/stock_levels?by=product&x=1", 400, "\"x\""),
        ("/api/stream?range=bad", 400, "15m, 1h, 24h, 7d"),
        ("/api/nope", 404, "/api/nope"),
        ("/no/such/page", 404, "/no/such/page"),
    ] {
        let body = server.json(path, status).await;
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no error in {body}"));
        assert!(
            error.contains(mention),
            "{path}: error {error:?} mentions {mention:?}"
        );
    }
    // The page itself is there.
    let (code, page) = server.get("/").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("data-testid=\"kpi-orders\""),
        "the page has the KPI tiles"
    );
    drop(server);
    env.drop_database().await;
}

/// Every query of the page and the API goes through `serve::page_client` (readonly=2):
/// ClickHouse itself refuses a write or DDL from it, while the same statements from the
/// pipeline's own client go through.
#[tokio::test(flavor = "multi_thread")]
async fn the_pages_clickhouse_client_cannot_write() {
    let env = TestEnv::new("api_readonly").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let page = serve::page_client(&env.clickhouse, &env.database);
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    let count = |client: &clickhouse_http::Client, sql: &str| {
        let (client, sql) = (client.clone(), sql.to_string());
        async move { client.query_one::<Count>(&sql).await.unwrap().n }
    };
    let sales = "SELECT count() AS n FROM sales";
    let made = "SELECT count() AS n FROM system.tables \
                WHERE database = currentDatabase() AND name = 'written_by_the_page'";
    assert_eq!(count(&page, sales).await, 0, "the page's client reads");
    let writes = [
        "INSERT INTO sales (event_id, event_time, quantity) \
         VALUES ('written-by-the-page', '2026-01-01 00:00:00', 1)",
        "CREATE TABLE written_by_the_page (x UInt8) ENGINE = Memory",
    ];
    for sql in writes {
        let e = page
            .execute(sql)
            .await
            .expect_err("the page's client wrote");
        // 164: READONLY, "Cannot execute query in readonly mode".
        assert_eq!(e.code(), Some(164), "{sql}: {e}");
        assert!(e.to_string().contains("readonly"), "{sql}: {e}");
    }
    assert_eq!(count(&page, sales).await, 0, "no row was written");
    assert_eq!(count(&page, made).await, 0, "no table was made");
    // The same statements are good ones: the pipeline's own client runs them.
    for sql in writes {
        env.clickhouse.execute(sql).await.unwrap();
    }
    assert_eq!(count(&page, sales).await, 1);
    assert_eq!(count(&page, made).await, 1);
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clickhouse_that_does_not_answer_is_503_not_a_hang() {
    let env = TestEnv::new("api_down").await;
    // A loopback port nobody listens on.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut args = env.pipeline_args();
    let i = args.iter().position(|a| a == "--clickhouse-url").unwrap();
    args[i + 1] = closed.clone();
    let started = unix_now() as u64;
    let server = Server::start(args).await;

    let ov = server.json("/api/overview", 503).await;
    assert!(ov["error"].as_str().is_some_and(|e| !e.is_empty()), "{ov}");
    let ov = server.json("/api/sales", 503).await;
    assert!(ov["error"].as_str().is_some_and(|e| !e.is_empty()), "{ov}");
    let st = server.json("/api/status", 503).await;
    assert_eq!(st["status"], "error", "{st}");
    assert!(st["error"].as_str().is_some_and(|e| !e.is_empty()), "{st}");
    let (code, body) = server.get("/healthz").await;
    assert_eq!(code, 503, "/healthz: {body}");
    // The stream stays up and says why its parts are missing.
    let snap = server.first_snapshot("1h").await;
    assert!(
        snap["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{snap}"
    );
    for part in ["status", "overview", "sales", "stock", "recent_sales"] {
        assert_eq!(snap[part], Value::Null, "{part} is null: {snap}");
    }
    // Once measured (the first second answers a default snapshot), health says why.
    let h = wait_for(
        "health to report ClickHouse down",
        Duration::from_secs(10),
        || {
            let server = &server;
            async move {
                let h = server.json("/api/health", 200).await;
                h["clickhouse"]["error"].is_string().then_some(h)
            }
        },
    )
    .await;
    assert_eq!(h["clickhouse"]["ok"], false, "{h}");
    // Since when, as this server first saw it: between its start and now.
    let since = h["clickhouse"]["down_since"].as_u64().unwrap_or(0);
    assert!(
        (started..=unix_now() as u64).contains(&since),
        "down_since {since} within [{started}, now]: {h}"
    );
    assert_eq!(
        h["topics"][0]["rows"],
        Value::Null,
        "no row count without ClickHouse: {h}"
    );
}
