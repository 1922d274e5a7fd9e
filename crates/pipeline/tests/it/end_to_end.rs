//! 20,000 seeded events through the real broker and ClickHouse: every one lands once, with
//! every field as produced, and the money adds up to the cent.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{generate_seeded, pipeline_ok};
use generate::{Event, EventTime, Generator, GeneratorConfig};
use serde::Deserialize;
use testkit::{wait_for, TestEnv};

const N: u64 = 20_000;
const SEED: u64 = 42;

#[derive(Debug, Deserialize, PartialEq)]
struct SaleRow {
    event_id: String,
    event_type: String,
    product_id: u32,
    product_name: String,
    category: String,
    quantity: u32,
    price: String,
    discount: String,
    total: String,
    store_id: u32,
    cashier_id: u32,
    customer_id: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct MovementRow {
    event_id: String,
    event_type: String,
    product_id: u32,
    product_name: String,
    category: String,
    warehouse: String,
    quantity: u32,
    movement_type: String,
    source: String,
    responsible: String,
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[derive(Deserialize)]
struct Sums {
    n: u64,
    ids: u64,
    quantity: i64,
    total: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_events_land_exactly_once_and_add_up() {
    let env = TestEnv::new("e2e").await;
    pipeline_ok(&env, &["schema", "apply"]);
    let summary = generate_seeded(&env, SEED, N, &["--json"]);
    let summary: serde_json::Value = serde_json::from_str(summary.trim()).expect("JSON summary");
    let acked: u64 = summary["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["events"].as_u64().unwrap())
        .sum();
    assert_eq!(acked, N, "the broker acknowledged every event: {summary}");

    // The same seed gives the same events: rebuild what was produced.
    let mut gen = Generator::new(&GeneratorConfig {
        seed: Some(SEED),
        ..Default::default()
    })
    .unwrap();
    let at = EventTime(*b"2026-01-01 00:00:00");
    let mut sales = HashMap::new();
    let mut moves = HashMap::new();
    let (mut sale_q, mut sale_cents, mut move_q) = (0i64, 0i64, 0i64);
    for _ in 0..N {
        match gen.next_event(at) {
            Event::Sale(s) => {
                sale_q += s.quantity as i64;
                sale_cents += s.total.0;
                let row = SaleRow {
                    event_id: s.event_id.to_string(),
                    event_type: s.event_type.into(),
                    product_id: s.product_id,
                    product_name: s.product_name.into(),
                    category: s.category.into(),
                    quantity: s.quantity,
                    price: money(s.price.0),
                    discount: money(s.discount.0 as i64),
                    total: money(s.total.0),
                    store_id: s.store_id,
                    cashier_id: s.cashier_id,
                    customer_id: s.customer_id.to_string(),
                };
                sales.insert(row.event_id.clone(), row);
            }
            Event::StockMovement(m) => {
                move_q += m.quantity as i64;
                let row = MovementRow {
                    event_id: m.event_id.to_string(),
                    event_type: m.event_type.into(),
                    product_id: m.product_id,
                    product_name: m.product_name.into(),
                    category: m.category.into(),
                    warehouse: m.warehouse.into(),
                    quantity: m.quantity,
                    movement_type: m.movement_type.as_str().into(),
                    source: m.source.into(),
                    responsible: m.responsible.into(),
                };
                moves.insert(row.event_id.clone(), row);
            }
        }
    }

    let ch = env.clickhouse.clone();
    let db = env.database.clone();
    let landed = wait_for("all rows to land in ClickHouse", Duration::from_secs(90), || {
        let ch = ch.clone();
        let db = db.clone();
        async move {
            let q = format!(
                "SELECT (SELECT count() FROM {db}.sales) + (SELECT count() FROM {db}.stock_movements) AS n"
            );
            #[derive(Deserialize)]
            struct C {
                n: u64,
            }
            let c: C = ch.query_one(&q).await.ok()?;
            (c.n >= N).then_some(c.n)
        }
    })
    .await;
    // Give a late duplicate the chance to show up before counting exactly.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s: Sums = ch
        .query_one(&format!(
            "SELECT count() AS n, uniqExact(event_id) AS ids, toInt64(sum(quantity)) AS quantity, \
             toString(sum(total)) AS total FROM {db}.sales"
        ))
        .await
        .unwrap();
    let m: Sums = ch
        .query_one(&format!(
            "SELECT count() AS n, uniqExact(event_id) AS ids, toInt64(sum(quantity)) AS quantity, \
             '0' AS total FROM {db}.stock_movements"
        ))
        .await
        .unwrap();
    assert_eq!(landed, N);
    assert_eq!(s.n + m.n, N, "exactly N rows");
    assert_eq!(s.ids + m.ids, N, "N unique event ids");
    assert_eq!(
        (s.n, m.n),
        (sales.len() as u64, moves.len() as u64),
        "per topic"
    );
    assert_eq!(s.quantity, sale_q, "sum of sales quantity");
    assert_eq!(
        s.total,
        money(sale_cents),
        "sum of sales total, to the cent"
    );
    assert_eq!(m.quantity, move_q, "sum of movement quantity");

    // Every row, field by field.
    let got: Vec<SaleRow> = ch
        .query(&format!(
            "SELECT event_id, event_type, product_id, product_name, category, quantity, \
             toString(price) AS price, toString(discount) AS discount, toString(total) AS total, \
             store_id, cashier_id, customer_id FROM {db}.sales"
        ))
        .await
        .unwrap();
    for row in &got {
        assert_eq!(Some(row), sales.get(&row.event_id), "sale {}", row.event_id);
    }
    let got: Vec<MovementRow> = ch
        .query(&format!(
            "SELECT event_id, event_type, product_id, product_name, category, warehouse, quantity, \
             movement_type, source, responsible FROM {db}.stock_movements"
        ))
        .await
        .unwrap();
    for row in &got {
        assert_eq!(
            Some(row),
            moves.get(&row.event_id),
            "movement {}",
            row.event_id
        );
    }
    // Times are "now": parsed, and within the last hour.
    #[derive(Deserialize)]
    struct Age {
        oldest: i64,
        newest: i64,
    }
    let age: Age = ch
        .query_one(&format!(
            "SELECT toInt64(now()) - toInt64(min(event_time)) AS oldest, \
             toInt64(now()) - toInt64(max(event_time)) AS newest FROM {db}.sales"
        ))
        .await
        .unwrap();
    assert!(
        age.oldest < 3600 && age.newest >= -5,
        "event_time parsed as local now"
    );
    env.drop_database().await;
}
