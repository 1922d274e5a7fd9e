//! Applying the rendered schema: pending migrations in order, then whichever ingest objects
//! are missing or differ from what is rendered now. Running it again changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use clickhouse_http::{quote, Client, ServerVersion};
use serde::Deserialize;

use crate::{checksum, render, stream_of, Error, IngestKind, Result, SchemaConfig, MIGRATIONS};

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

#[derive(Deserialize)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
struct Applied {
    version: u32,
}

#[derive(Deserialize)]
struct Recorded {
    name: String,
    checksum: String,
}

async fn existing_tables(client: &Client, db: &str) -> Result<BTreeSet<String>> {
    let rows: Vec<Name> = client
        .query(&format!(
            "SELECT name FROM system.tables WHERE database = {}",
            quote(db)
        ))
        .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

async fn applied_migrations(client: &Client, db: &str) -> Result<Vec<u32>> {
    let rows: Vec<Applied> = client
        .query(&format!(
            "SELECT DISTINCT version FROM {db}.schema_migrations ORDER BY version"
        ))
        .await?;
    let applied: Vec<u32> = rows.into_iter().map(|r| r.version).collect();
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

async fn recorded_ingest(client: &Client, db: &str) -> Result<BTreeMap<String, String>> {
    let rows: Vec<Recorded> = client
        .query(&format!(
            "SELECT name, argMax(checksum, applied_at) AS checksum FROM {db}.schema_ingest GROUP BY name"
        ))
        .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.checksum)).collect())
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
    let r = render(config, server)?;
    let db = &config.database;
    if let Some(k) = &config.kafka_security {
        if !crate::Features::for_version(server)?.kafka_sasl_settings {
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
        .execute(&ddl(format!("CREATE DATABASE IF NOT EXISTS {db}")))
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
    if !pending.is_empty() {
        // No view writes into a table while it is being changed; the Kafka tables keep
        // their offsets, so nothing is consumed meanwhile and nothing is lost.
        for (name, kind, _) in &r.ingest {
            if *kind == IngestKind::View {
                client
                    .execute(&ddl(format!("DROP TABLE IF EXISTS {db}.{name}")))
                    .await?;
            }
        }
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
        client
            .execute(&format!(
                "INSERT INTO {db}.schema_migrations (version, name, checksum, applied_at) VALUES ({version}, {}, {}, now())",
                quote(name),
                quote(&checksum(&statements.join(";\n")))
            ))
            .await?;
        tracing::info!(version, name, "migration applied");
        report.migrations_applied.push((*version, name));
    }

    let mut existing = existing_tables(client, db).await?;
    // An object this server does not get (e.g. a view made by an older version of this
    // schema) would go on writing beside its replacement.
    for o in crate::INGEST {
        if existing.contains(o.name) && !r.ingest.iter().any(|(n, _, _)| *n == o.name) {
            client
                .execute(&ddl(format!("DROP TABLE IF EXISTS {db}.{}", o.name)))
                .await?;
            existing.remove(o.name);
            tracing::info!(
                object = o.name,
                "ingest object not used on this server dropped"
            );
        }
    }
    let recorded = recorded_ingest(client, db).await?;
    let mut recreate: BTreeSet<&str> = r
        .ingest
        .iter()
        .filter(|(name, _, ddl)| {
            !existing.contains(*name) || recorded.get(*name) != Some(&checksum(ddl))
        })
        .map(|(name, _, _)| *name)
        .collect();
    // A view is re-created with the Kafka table that feeds it.
    for (name, _, _) in &r.ingest {
        if stream_of(name).is_some_and(|src| src != *name && recreate.contains(src)) {
            recreate.insert(name);
        }
    }
    // Drop views before the tables they read, create tables before their views.
    for kind in [
        IngestKind::View,
        IngestKind::KafkaTable,
        IngestKind::ReplayTable,
    ] {
        for (name, _, _) in r
            .ingest
            .iter()
            .filter(|(n, k, _)| *k == kind && recreate.contains(n))
        {
            client
                .execute(&ddl(format!("DROP TABLE IF EXISTS {db}.{name}")))
                .await?;
        }
    }
    let mut gated = false;
    for (name, kind, ddl) in r.ingest.iter().filter(|(n, _, _)| recreate.contains(n)) {
        if *kind == IngestKind::View && !gated {
            // Close every stream that gets new views, so all its views start together.
            for (table, gate) in &r.gates {
                if r.ingest.iter().any(|(n, k, _)| {
                    *k == IngestKind::View && recreate.contains(n) && stream_of(n) == Some(table)
                }) {
                    client.execute(gate).await?;
                }
            }
            gated = true;
        }
        client.execute(ddl).await?;
        client
            .execute(&format!(
                "INSERT INTO {db}.schema_ingest (name, checksum, applied_at) VALUES ({}, {}, now())",
                quote(name),
                quote(&checksum(ddl))
            ))
            .await?;
        tracing::info!(object = name, "ingest object created");
        report.ingest_created.push(name);
    }
    // Open the gates, including any an interrupted earlier run left closed.
    for (table, _) in &r.gates {
        client
            .execute(&ddl(format!("DROP TABLE IF EXISTS {db}.{table}_gate")))
            .await?;
    }
    if let Some(cluster) = &config.cluster {
        report.distributed_created =
            crate::cluster::ensure_distributed(client, db, cluster, config.replicated).await?;
        report.replicated = config.replicated;
    }
    Ok(report)
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
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    let dbs: Count = client
        .query_one(&format!(
            "SELECT count() AS n FROM system.databases WHERE name = {}",
            quote(db)
        ))
        .await?;
    let existing = if dbs.n > 0 {
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
    let mut ingest: Vec<(&'static str, IngestState)> = r
        .ingest
        .iter()
        .map(|(name, _, ddl)| {
            let state = if !existing.contains(*name) {
                IngestState::Missing
            } else if recorded.get(*name) != Some(&checksum(ddl)) {
                IngestState::Outdated
            } else {
                IngestState::Current
            };
            (*name, state)
        })
        .collect();
    // A view is re-created with the Kafka table it reads from.
    let stale: Vec<&str> = ingest
        .iter()
        .filter(|(_, s)| *s != IngestState::Current)
        .map(|(n, _)| *n)
        .collect();
    for (name, state) in ingest.iter_mut() {
        if *state == IngestState::Current
            && stream_of(name).is_some_and(|s| s != *name && stale.contains(&s))
        {
            *state = IngestState::Outdated;
        }
    }
    Ok(SchemaStatus {
        server,
        database_exists: dbs.n > 0,
        pending: MIGRATIONS
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| (m.version, m.name))
            .collect(),
        applied,
        ingest,
    })
}
