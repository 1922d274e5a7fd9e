//! Applying the rendered schema: pending migrations in order, then whichever ingest objects
//! are missing or differ from what is rendered now. Running it again changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use clickhouse_http::{Client, ServerVersion};

use crate::bookkeeping::{self, existing_tables, recorded_ingest};
use crate::{checksum, render, Error, IngestKind, Rendered, Result, SchemaConfig, MIGRATIONS};

#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub server: ServerVersion,
    pub migrations_applied: Vec<(u32, &'static str)>,
    pub ingest_created: Vec<&'static str>,
    /// Cluster mode: the Distributed twins made in `<db>_all`.
    pub distributed_created: Vec<String>,
    /// Cluster mode with replicas: DDL ON CLUSTER, Replicated tables.
    pub replicated: bool,
}

impl ApplyReport {
    pub fn changed_nothing(&self) -> bool {
        self.migrations_applied.is_empty()
            && self.ingest_created.is_empty()
            && self.distributed_created.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestState {
    Current,
    Missing,
    /// Exists, but its DDL differs from what would be rendered now.
    Outdated,
}

#[derive(Debug, Clone)]
pub struct SchemaStatus {
    pub server: ServerVersion,
    pub database_exists: bool,
    pub applied: Vec<u32>,
    pub pending: Vec<(u32, &'static str)>,
    pub ingest: Vec<(&'static str, IngestState)>,
}

impl SchemaStatus {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.ingest.iter().all(|(_, s)| *s == IngestState::Current)
    }
}

/// The migrations applied to `db`; an error if one is unknown to this build.
async fn applied_migrations(client: &Client, db: &str) -> Result<Vec<u32>> {
    let applied = bookkeeping::applied_migrations(client, db).await?;
    if let Some(unknown) = applied
        .iter()
        .find(|v| !MIGRATIONS.iter().any(|m| m.version == **v))
    {
        return Err(Error::Invalid(format!(
            "database {db} has migration {unknown}, which this build of pipeline does not know: \
             it was set up by a newer version"
        )));
    }
    Ok(applied)
}

/// Brings `config.database` up to date. Safe to run at every start-up.
pub async fn apply(client: &Client, config: &SchemaConfig) -> Result<ApplyReport> {
    // Every statement names its database; the session's own must exist before ours does.
    let client = &client.clone().with_database("system");
    let server = client.version().await?;
    let mut config = config.clone();
    if let Some(cluster) = &config.cluster {
        config.replicated = crate::cluster::shape(client, cluster).await?;
    }
    let config = &config;
    // DDL this function writes itself goes where the rendered DDL goes.
    let ddl = |s: String| match config.cluster.as_deref().filter(|_| config.replicated) {
        Some(c) => crate::cluster::on_cluster(&s, c),
        None => s,
    };
    if crate::Dialect::for_version(server)? == crate::Dialect::ClickHouse1816 {
        clickhouse_18_16::require_engine_profile(client, &config.engine_profile)
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?;
    }
    let r = render(config, server)?;
    let db = &config.database;
    if let Some(k) = &config.kafka_security {
        if !crate::dialect::takes_kafka_security_settings(server) {
            tracing::warn!(
                "ClickHouse {server} takes Kafka security from its own config, not from table \
                 settings: its Kafka tables connect as the server's <kafka> section says. For \
                 {} put this in the server's config on every server:\n{}",
                k.protocol,
                k.server_config_snippet()
            );
        }
    }
    client
        .execute(&ddl(bookkeeping::create_database(db)?))
        .await?;
    for s in &r.state {
        client.execute(s).await?;
    }

    // With replicas, each shard's replicas share a schema_migrations of their own: what any
    // shard applied (ON CLUSTER, so on all) is read through the Distributed twin, once made.
    let migrations_db = if config.replicated
        && existing_tables(client, &crate::distributed_database(db))
            .await?
            .contains("schema_migrations")
    {
        crate::distributed_database(db)
    } else {
        db.clone()
    };
    let applied = applied_migrations(client, &migrations_db).await?;
    let pending: Vec<_> = r
        .migrations
        .iter()
        .filter(|(v, _, _)| !applied.contains(v))
        .collect();
    let mut report = ApplyReport {
        server,
        migrations_applied: Vec::new(),
        ingest_created: Vec::new(),
        distributed_created: Vec::new(),
        replicated: false,
    };
    let existing = existing_tables(client, db).await?;
    let recorded = recorded_ingest(client, db).await?;
    let plan = plan_ingest(
        &r,
        db,
        &existing,
        &recorded,
        !pending.is_empty(),
        config.cluster.as_deref().filter(|_| config.replicated),
    );
    for s in &plan.stop {
        client.execute(s).await?;
    }
    for (version, name, statements) in pending {
        for (i, s) in statements.iter().enumerate() {
            client.execute(s).await.map_err(|source| Error::Migration {
                version: *version,
                name,
                statement: i + 1,
                source,
            })?;
        }
        let sum = checksum(&statements.join(";\n"));
        bookkeeping::record_migration(client, db, *version, name, &sum).await?;
        tracing::info!(version, name, "migration applied");
        report.migrations_applied.push((*version, name));
    }
    for step in &plan.start {
        match step {
            Start::Run(sql) => client.execute(sql).await?,
            Start::Create(name, sql) => {
                client.execute(sql).await?;
                bookkeeping::record_ingest(client, db, name, &checksum(sql)).await?;
                tracing::info!(object = name, "ingest object created");
                report.ingest_created.push(name);
            }
        }
    }
    if let Some(cluster) = &config.cluster {
        report.distributed_created =
            crate::cluster::ensure_distributed(client, db, cluster, config.replicated).await?;
        report.replicated = config.replicated;
    }
    Ok(report)
}

/// Stops the Kafka tables from reading until the next `apply`, where the server needs it:
/// on 18.16 each gate is closed (current servers need no pause: nothing is a no-op there).
/// `pipeline up` pauses when it stops, because on 18.16 only its verifier finds the
/// messages the engine commits without writing; read while it is not running, they would
/// stay lost until the next `up`. Returns the Kafka tables paused.
pub async fn pause_ingest(client: &Client, config: &SchemaConfig) -> Result<Vec<&'static str>> {
    let client = &client.clone().with_database("system");
    let r = render(config, client.version().await?)?;
    let db = &config.database;
    let existing = existing_tables(client, db).await?;
    let mut paused = Vec::new();
    for (table, gate) in r.gates.iter().filter(|(t, _)| existing.contains(*t)) {
        client
            .execute(&bookkeeping::drop_table(db, &format!("{table}_gate"))?)
            .await?;
        client.execute(gate).await?;
        paused.push(*table);
    }
    Ok(paused)
}

/// Whether the Kafka tables are paused (`pause_ingest`): the gates that are closed.
pub async fn paused_ingest(client: &Client, db: &str) -> Result<Vec<String>> {
    let client = &client.clone().with_database("system");
    Ok(existing_tables(client, db)
        .await?
        .into_iter()
        .filter_map(|t| t.strip_suffix("_gate").map(str::to_string))
        .collect())
}

/// How `apply` brings the ingest objects from what exists to what is rendered.
#[derive(Debug, Clone, Default)]
pub struct IngestPlan {
    /// Before any migration: stop reading the topics whose objects change, then drop
    /// everything that is re-created or no longer used.
    pub stop: Vec<String>,
    /// After the migrations, in order.
    pub start: Vec<Start>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Run this statement (18.16: close or open a gate).
    Run(String),
    /// Create this object and record its checksum in `schema_ingest`.
    Create(&'static str, String),
}

/// The plan for `r` over a database holding `existing` objects whose recorded checksums
/// are `recorded`; `migrating`: migrations are pending, so no view may write meanwhile.
/// `on_cluster`: a cluster with replicas (the statements written here go ON CLUSTER too).
///
/// A topic's chain is every object its Kafka table feeds (the fan-out, the views). When
/// anything in a chain changes, every view of the chain is re-created, and the topic is not
/// read meanwhile: a block must reach all of a chain's views or none, or the events of a
/// block that reached only the dead-letter view (which keeps refused rows) are lost.
/// - Current servers: the Kafka table's one view into its fan-out is dropped first and
///   created last. A Kafka table that is itself re-created is dropped before anything
///   else, since views of an older layout may read it directly.
/// - 18.16 (no cascade: every view reads the Kafka table): a gate, a view into a table that
///   does not exist, stops the table from streaming; it is closed before anything of the
///   chain is dropped and opened once every view exists.
pub fn plan_ingest(
    r: &Rendered,
    db: &str,
    existing: &BTreeSet<String>,
    recorded: &BTreeMap<String, String>,
    migrating: bool,
    on_cluster: Option<&str>,
) -> IngestPlan {
    let ddl = |s: String| match on_cluster {
        Some(c) => crate::cluster::on_cluster(&s, c),
        None => s,
    };
    let drop = |name: &str| {
        ddl(bookkeeping::drop_table(db, name).expect("names checked when the schema was rendered"))
    };
    let kind_of = |name: &str| r.ingest.iter().find(|(n, _, _)| *n == name).map(|o| o.1);
    let (recreate, changed_chains) = to_recreate(r, existing, recorded, migrating);
    let gate_of = |table: &str| r.gates.iter().find(|(t, _)| *t == table).map(|g| &g.1);
    let close_gate = |table: &str, gate: &String| [drop(&format!("{table}_gate")), gate.clone()];

    let mut plan = IngestPlan::default();
    let mut dropped: BTreeSet<&str> = BTreeSet::new();
    for k in changed_chains.iter().filter(|k| existing.contains(**k)) {
        if let Some(gate) = gate_of(k) {
            plan.stop.extend(close_gate(k, gate));
        } else if recreate.contains(k) {
            plan.stop.push(drop(k));
            dropped.insert(k);
        }
    }
    // Objects this server does not get (e.g. made by an older version of this schema)
    // would go on writing beside their replacements.
    for kind in [
        IngestKind::View,
        IngestKind::KafkaTable,
        IngestKind::ReplayTable,
        IngestKind::ParsedTable,
    ] {
        for (name, _) in crate::every_object().iter().filter(|(_, k)| *k == kind) {
            if existing.contains(*name) && kind_of(name).is_none() {
                plan.stop.push(drop(name));
            }
        }
    }
    // Views in reverse creation order (a fan-out's entry view first), then tables.
    for (name, _, _) in r.ingest.iter().rev() {
        if kind_of(name) == Some(IngestKind::View)
            && recreate.contains(name)
            && existing.contains(*name)
        {
            plan.stop.push(drop(name));
        }
    }
    for (name, kind, _) in &r.ingest {
        if *kind != IngestKind::View
            && recreate.contains(name)
            && existing.contains(*name)
            && !dropped.contains(name)
        {
            plan.stop.push(drop(name));
        }
    }

    let mut gated = false;
    for (name, kind, sql) in r.ingest.iter().filter(|(n, _, _)| recreate.contains(n)) {
        if *kind == IngestKind::View && !gated {
            // Every Kafka table whose views are made now exists: close its gate (again).
            for (table, gate) in &r.gates {
                if changed_chains.contains(table) {
                    plan.start.extend(close_gate(table, gate).map(Start::Run));
                }
            }
            gated = true;
        }
        plan.start.push(Start::Create(name, sql.clone()));
    }
    // Open the gates, including any an interrupted earlier run left closed.
    for (table, _) in &r.gates {
        plan.start.push(Start::Run(drop(&format!("{table}_gate"))));
    }
    plan
}

/// The ingest objects `apply` re-creates (missing, changed, or in a changed chain; every
/// view while migrating), and the Kafka tables whose chains change.
fn to_recreate(
    r: &Rendered,
    existing: &BTreeSet<String>,
    recorded: &BTreeMap<String, String>,
    migrating: bool,
) -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let kind_of = |name: &str| r.ingest.iter().find(|(n, _, _)| *n == name).map(|o| o.1);
    let mut recreate: BTreeSet<&'static str> = r
        .ingest
        .iter()
        .filter(|(name, kind, sql)| {
            !existing.contains(*name)
                || recorded.get(*name) != Some(&checksum(sql))
                || (migrating && *kind == IngestKind::View)
        })
        .map(|(name, _, _)| *name)
        .collect();
    let chain_of = |name: &str| {
        r.stream_of(name)
            .filter(|s| kind_of(s) == Some(IngestKind::KafkaTable))
    };
    let changed_chains: BTreeSet<&'static str> =
        recreate.iter().filter_map(|n| chain_of(n)).collect();
    for (name, kind, _) in &r.ingest {
        if *kind == IngestKind::View && chain_of(name).is_some_and(|k| changed_chains.contains(k)) {
            recreate.insert(name);
        }
    }
    // Any other view is re-created with the table it reads (the replay door's, on 18.16).
    for (name, _, _) in &r.ingest {
        if r.stream_of(name)
            .is_some_and(|src| src != *name && recreate.contains(src))
        {
            recreate.insert(name);
        }
    }
    (recreate, changed_chains)
}

/// What `apply` would do, without changing anything.
pub async fn status(client: &Client, config: &SchemaConfig) -> Result<SchemaStatus> {
    let client = &client.clone().with_database("system");
    let server = client.version().await?;
    let mut config = config.clone();
    if let Some(cluster) = &config.cluster {
        config.replicated = crate::cluster::shape(client, cluster).await?;
    }
    let config = &config;
    let r = render(config, server)?;
    let db = &config.database;
    let database_exists = bookkeeping::database_exists(client, db).await?;
    let existing = if database_exists {
        existing_tables(client, db).await?
    } else {
        BTreeSet::new()
    };
    let has_state = existing.contains("schema_migrations") && existing.contains("schema_ingest");
    let applied = if has_state {
        applied_migrations(client, db).await?
    } else {
        Vec::new()
    };
    let recorded = if has_state {
        recorded_ingest(client, db).await?
    } else {
        BTreeMap::new()
    };
    let (recreate, _) = to_recreate(&r, &existing, &recorded, false);
    let ingest: Vec<(&'static str, IngestState)> = r
        .ingest
        .iter()
        .map(|(name, _, _)| {
            let state = if !existing.contains(*name) {
                IngestState::Missing
            } else if recreate.contains(name) {
                IngestState::Outdated
            } else {
                IngestState::Current
            };
            (*name, state)
        })
        .collect();
    Ok(SchemaStatus {
        server,
        database_exists,
        pending: MIGRATIONS
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| (m.version, m.name))
            .collect(),
        applied,
        ingest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan after `change` to a database made with `SchemaConfig::new("shop", …)`.
    fn plan_after(version: &str, change: impl Fn(&mut BTreeMap<String, String>)) -> IngestPlan {
        let config = SchemaConfig::new("shop", "kafka:9092");
        let r = render(&config, version.parse().unwrap()).unwrap();
        let existing = r.ingest.iter().map(|(n, _, _)| n.to_string()).collect();
        let mut recorded = r
            .ingest
            .iter()
            .map(|(n, _, sql)| (n.to_string(), checksum(sql)))
            .collect();
        change(&mut recorded);
        plan_ingest(&r, "shop", &existing, &recorded, false, None)
    }

    fn position(statements: &[String], needle: &str) -> usize {
        statements
            .iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("no statement with {needle:?} in {statements:#?}"))
    }

    fn created(plan: &IngestPlan) -> Vec<&'static str> {
        plan.start
            .iter()
            .filter_map(|s| match s {
                Start::Create(name, _) => Some(*name),
                Start::Run(_) => None,
            })
            .collect()
    }

    #[test]
    fn nothing_changed_plans_nothing_but_opening_gates() {
        let plan = plan_after("25.8", |_| {});
        assert!(plan.stop.is_empty() && plan.start.is_empty(), "{plan:?}");
        let plan = plan_after("18.16.1", |_| {});
        assert!(plan.stop.is_empty(), "{plan:?}");
        assert!(created(&plan).is_empty(), "{plan:?}");
    }

    #[test]
    fn current_servers_stop_reading_first_and_start_reading_last() {
        // One view of the sales chain changed: the whole chain is re-created, the entry
        // view dropped first and created after every other view of the chain. The rollup
        // reads the sales table, not the chain: it stays, and counts every row meanwhile.
        let plan = plan_after("25.8", |r| {
            r.insert("sales_mv".into(), "older".into());
        });
        assert_eq!(
            plan.stop[0], "DROP TABLE IF EXISTS shop.sales_parse_mv",
            "{plan:#?}"
        );
        let made = created(&plan);
        assert_eq!(
            made,
            ["sales_dead_letter_mv", "sales_mv", "sales_parse_mv"],
            "{plan:#?}"
        );
        assert!(
            !plan
                .stop
                .iter()
                .any(|s| s.contains("warehouse") || s.ends_with(".sales_kafka")),
            "the other chain and the Kafka table stay: {plan:#?}"
        );
        // A Kafka table re-created is dropped before anything else.
        let plan = plan_after("25.8", |r| {
            r.insert("warehouse_kafka".into(), "older".into());
        });
        assert_eq!(
            plan.stop[0], "DROP TABLE IF EXISTS shop.warehouse_kafka",
            "{plan:#?}"
        );
        assert_eq!(
            created(&plan).last(),
            Some(&"warehouse_parse_mv"),
            "{plan:#?}"
        );
    }

    #[test]
    fn on_18_16_the_gate_closes_before_anything_is_dropped() {
        let plan = plan_after("18.16.1", |r| {
            r.insert("sales_by_minute_mv".into(), "older".into());
            r.insert("sales_replay_dead_letter_mv".into(), "older".into());
            r.insert("stock_movements_mv".into(), "older".into());
        });
        let stop = &plan.stop;
        for table in ["sales_kafka", "warehouse_kafka"] {
            let gate = position(stop, &format!("CREATE MATERIALIZED VIEW shop.{table}_gate"));
            let first_drop = stop
                .iter()
                .position(|s| s.starts_with("DROP") && !s.contains("_gate"))
                .unwrap();
            assert!(gate < first_drop, "{table}: {stop:#?}");
        }
        let start: Vec<String> = plan
            .start
            .iter()
            .map(|s| match s {
                Start::Run(sql) | Start::Create(_, sql) => sql.clone(),
            })
            .collect();
        // Closed (dropped and made) before the first view, dropped again after the last.
        let opened = start
            .iter()
            .rposition(|s| s == "DROP TABLE IF EXISTS shop.sales_kafka_gate")
            .unwrap();
        let last_view = start
            .iter()
            .rposition(|s| s.starts_with("CREATE MATERIALIZED VIEW shop.sales_mv"))
            .unwrap();
        assert!(last_view < opened, "{start:#?}");
    }
}
