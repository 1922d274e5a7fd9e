//! Sharded cluster mode (`--cluster NAME`): every shard holds its own tables and Kafka tables
//! (applied to each shard like a single server; the Kafka tables of all shards share one
//! consumer group, so the broker splits the partitions between them), and `<db>_all` holds a
//! Distributed twin of each table, which the page, the audit and the checks read.
//!
//! Shards of one replica only: replicas of a shard need Replicated tables and ON CLUSTER DDL
//! through Keeper, which this mode does not make yet; such a cluster is refused.

use std::collections::BTreeMap;

use clickhouse_http::{quote, template, Client};
use serde::Deserialize;

use crate::{Error, Result};

/// The database of the Distributed twins of `db`'s tables.
pub fn distributed_database(db: &str) -> String {
    format!("{db}_all")
}

fn render(name: &str, source: &str, values: &[(&'static str, String)]) -> Result<String> {
    let values: BTreeMap<&str, String> = values.iter().cloned().collect();
    template::render(name, source, &values, &|_| None).map_err(Error::Template)
}

#[derive(Deserialize)]
struct Shape {
    shards: u32,
    replicas: u32,
}

#[derive(Deserialize)]
struct Column {
    table: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn columns(
    client: &Client,
    sql: &str,
    db: &str,
) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let q = render("columns", sql, &[("db_name", quote(db))])?;
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in client.query::<Column>(&q).await? {
        out.entry(c.table).or_default().push((c.name, c.kind));
    }
    for cols in out.values_mut() {
        cols.sort();
    }
    Ok(out)
}

/// Checks the cluster's shape, then makes (or re-makes, where the table's columns changed)
/// the Distributed twin of every MergeTree table of `db`. Returns the twins made.
pub(crate) async fn ensure_distributed(
    client: &Client,
    db: &str,
    cluster: &str,
) -> Result<Vec<String>> {
    let shape: Shape = client
        .query_one(&render(
            "cluster_shape.sql",
            include_str!("../sql/cluster/cluster_shape.sql"),
            &[("cluster_name", quote(cluster))],
        )?)
        .await?;
    if shape.shards == 0 {
        return Err(Error::Invalid(format!(
            "cluster {cluster:?} is not in this server's remote_servers (system.clusters); \
             define it in the server's config on every shard, or leave out --cluster"
        )));
    }
    if shape.replicas > 1 {
        return Err(Error::Invalid(format!(
            "cluster {cluster:?} has {} replicas per shard: replicated shards need Replicated \
             tables and ON CLUSTER DDL through Keeper, which --cluster does not make yet; use \
             one replica per shard",
            shape.replicas
        )));
    }
    let all = distributed_database(db);
    client
        .execute(&format!("CREATE DATABASE IF NOT EXISTS {all}"))
        .await?;
    let local = columns(client, include_str!("../sql/cluster/table_columns.sql"), db).await?;
    let twins = columns(
        client,
        include_str!("../sql/cluster/distributed_columns.sql"),
        &all,
    )
    .await?;
    let mut made = Vec::new();
    for (table, cols) in &local {
        match twins.get(table) {
            Some(have) if have == cols => continue,
            Some(_) => {
                // Holds no rows of its own: re-made with the table's new columns.
                client
                    .execute(&format!("DROP TABLE IF EXISTS {all}.{table}"))
                    .await?;
            }
            None => {}
        }
        client
            .execute(&render(
                "distributed_table.sql",
                include_str!("../sql/cluster/distributed_table.sql"),
                &[
                    ("all_db", all.clone()),
                    ("db", db.to_string()),
                    ("table", table.clone()),
                    ("cluster", cluster.to_string()),
                ],
            )?)
            .await?;
        tracing::info!(table = %format!("{all}.{table}"), cluster, "distributed table created");
        made.push(table.clone());
    }
    Ok(made)
}
