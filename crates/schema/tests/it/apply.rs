//! `schema::apply` against the real ClickHouse: idempotent, migrating without losing rows,
//! re-creating ingest objects when their settings change.

use schema::{apply, render, status, IngestState, SchemaConfig};
use serde::Deserialize;
use testkit::TestEnv;

fn config(env: &TestEnv) -> SchemaConfig {
    let mut c = SchemaConfig::new(&env.database, &env.kafka.brokers);
    c.sales_topic = env.sales_topic.clone();
    c.warehouse_topic = env.warehouse_topic.clone();
    c
}

#[derive(Deserialize, Debug, PartialEq)]
struct Totals {
    n: u64,
    quantity: u64,
    total: String,
}

async fn totals(env: &TestEnv) -> Totals {
    env.root()
        .query_one(&format!(
            "SELECT count() AS n, sum(quantity) AS quantity, toString(sum(total)) AS total FROM {}.sales",
            env.database
        ))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn applying_twice_changes_nothing() {
    let env = TestEnv::new("schema_twice").await;
    let cfg = config(&env);
    let first = apply(&env.clickhouse, &cfg).await.unwrap();
    assert_eq!(first.migrations_applied.len(), schema::MIGRATIONS.len());
    let version = env.clickhouse.version().await.unwrap();
    let rendered: Vec<&str> = schema::render(&cfg, version)
        .unwrap()
        .ingest
        .iter()
        .map(|(name, _, _)| *name)
        .collect();
    assert_eq!(first.ingest_created.len(), rendered.len());
    #[derive(Deserialize, PartialEq, Debug)]
    struct T {
        name: String,
        metadata_modification_time: String,
    }
    let q = format!(
        "SELECT name, toString(metadata_modification_time) AS metadata_modification_time \
         FROM system.tables WHERE database = '{}' ORDER BY name",
        env.database
    );
    let before: Vec<T> = env.root().query(&q).await.unwrap();
    let second = apply(&env.clickhouse, &cfg).await.unwrap();
    assert!(second.changed_nothing(), "{second:?}");
    let after: Vec<T> = env.root().query(&q).await.unwrap();
    assert_eq!(before, after, "no table was touched");
    assert!(status(&env.clickhouse, &cfg).await.unwrap().is_current());

    // An ingest object this server does not get (left by an older version of the schema)
    // is dropped, so it cannot write beside its replacement.
    if let Some(unused) = schema::INGEST.iter().find(|o| !rendered.contains(&o.name)) {
        env.root()
            .execute(&format!(
                "CREATE TABLE {}.{} (x UInt8) ENGINE = Null",
                env.database, unused.name
            ))
            .await
            .unwrap();
        apply(&env.clickhouse, &cfg).await.unwrap();
        let left: Vec<T> = env.root().query(&q).await.unwrap();
        assert!(
            left.iter().all(|t| t.name != unused.name),
            "{} was not dropped",
            unused.name
        );
    }
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn migrating_from_the_original_tables_keeps_every_row() {
    let env = TestEnv::new("schema_migrate").await;
    let cfg = config(&env);
    let root = env.root();
    let version = root.version().await.unwrap();
    // A database at migration 1: the original demo's tables, with rows in them.
    let r = render(&cfg, version).unwrap();
    root.execute(&format!("CREATE DATABASE {}", env.database))
        .await
        .unwrap();
    for s in r.state.iter().chain(&r.migrations[0].2) {
        root.execute(s).await.unwrap();
    }
    root.execute(&format!(
        "INSERT INTO {}.schema_migrations VALUES (1, 'original_tables', 'x', now())",
        env.database
    ))
    .await
    .unwrap();
    root.execute(&format!(
        "INSERT INTO {db}.sales (event_id, event_type, event_time, product_id, product_name, category, \
         quantity, price, discount, total, store_id, cashier_id, customer_id) \
         SELECT toString(number), 'sale', now(), number % 50 + 1, 'Товар', 'Книги', number % 5 + 1, \
         toDecimal32('100.10', 2), toDecimal32('0.10', 2), toDecimal32('90.09', 2), 1, 1, 'c' FROM system.numbers LIMIT 1000",
        db = env.database
    ))
    .await
    .unwrap();
    let before = totals(&env).await;
    assert_eq!(before.n, 1000);

    let report = apply(&env.clickhouse, &cfg).await.unwrap();
    let expected: Vec<u32> = (2..=schema::MIGRATIONS.len() as u32).collect();
    assert_eq!(
        report
            .migrations_applied
            .iter()
            .map(|m| m.0)
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(totals(&env).await, before, "every row kept, sums unchanged");
    let rollup: Totals = root
        .query_one(&format!(
            "SELECT toUInt64(sumMerge(orders)) AS n, sumMerge(items) AS quantity, toString(sumMerge(revenue)) AS total \
             FROM {}.sales_by_minute",
            env.database
        ))
        .await
        .unwrap();
    assert_eq!(
        rollup, before,
        "the rollup is back-filled from the rows already there"
    );
    #[derive(Deserialize)]
    struct Meta {
        topic: String,
        partition: i32,
    }
    let meta: Meta = root
        .query_one(&format!(
            "SELECT any(kafka_topic) AS topic, any(kafka_partition) AS partition FROM {}.sales",
            env.database
        ))
        .await
        .unwrap();
    assert_eq!(
        (meta.topic.as_str(), meta.partition),
        ("", -1),
        "old rows get the defaults"
    );
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_broker_address_recreates_only_the_ingest_objects() {
    let env = TestEnv::new("schema_broker").await;
    let mut cfg = config(&env);
    apply(&env.clickhouse, &cfg).await.unwrap();
    cfg.brokers = format!("{},127.0.0.1:1", cfg.brokers);
    let s = status(&env.clickhouse, &cfg).await.unwrap();
    assert!(s.pending.is_empty());
    // What reads the broker is re-created; the replay tables and ledger views are not.
    let version = env.clickhouse.version().await.unwrap();
    let objects = schema::objects(schema::Dialect::for_version(version).unwrap());
    let reads_kafka = |name: &str| {
        objects
            .iter()
            .any(|o| o.name == name && (o.stream == "sales_kafka" || o.stream == "warehouse_kafka"))
    };
    for (name, state) in &s.ingest {
        let want = if reads_kafka(name) {
            IngestState::Outdated
        } else {
            IngestState::Current
        };
        assert_eq!(*state, want, "{name}: {:?}", s.ingest);
    }
    let report = apply(&env.clickhouse, &cfg).await.unwrap();
    assert!(report.migrations_applied.is_empty());
    let outdated = s.ingest.iter().filter(|(n, _)| reads_kafka(n)).count();
    assert_eq!(report.ingest_created.len(), outdated);
    assert!(status(&env.clickhouse, &cfg).await.unwrap().is_current());
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_are_named_per_database() {
    let a = SchemaConfig::new("shop_a", "k:9092");
    let b = SchemaConfig::new("shop_b", "k:9092");
    assert_ne!(a.group_for("sales"), b.group_for("sales"));
}
