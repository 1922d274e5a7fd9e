//! Sharded cluster mode (`--cluster NAME`): every shard holds its own tables and Kafka tables
//! (applied to each shard like a single server; the Kafka tables of all shards share one
//! consumer group, so the broker splits the partitions between them), and `<db>_all` holds a
//! Distributed twin of each table, which the page, the audit and the checks read.
//!
//! Shards of one replica: each server is applied to on its own (no Keeper needed). Shards
//! with replicas: every DDL statement goes ON CLUSTER (Keeper's DDL queue runs it on every
//! server) and every MergeTree table becomes Replicated, so a shard's replicas hold the same
//! rows whichever of them consumed them.

use std::collections::BTreeMap;

use clickhouse_http::template::{self, Values};
use clickhouse_http::Client;
use serde::Deserialize;

use crate::{Error, Result};

/// The database of the Distributed twins of `db`'s tables.
pub fn distributed_database(db: &str) -> String {
    format!("{db}_all")
}

fn render(name: &str, source: &str, values: Values) -> Result<String> {
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

/// Per table of `db` whose engine is LIKE `engine`: its (column, type) pairs, sorted.
async fn columns(
    client: &Client,
    db: &str,
    engine: &str,
) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let q = render(
        "columns.sql",
        include_str!("../sql/cluster/columns.sql"),
        Values::new().ident("db", db).string("engine", engine),
    )?;
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in client.query::<Column>(&q).await? {
        out.entry(c.table).or_default().push((c.name, c.kind));
    }
    for cols in out.values_mut() {
        cols.sort();
    }
    Ok(out)
}

/// Makes (or re-makes, where the table's columns changed) the Distributed twin of every
/// MergeTree table of `db`, on every server when `replicated` (ON CLUSTER). Returns the
/// twins made.
pub(crate) async fn ensure_distributed(
    client: &Client,
    db: &str,
    cluster: &str,
    replicated: bool,
) -> Result<Vec<String>> {
    let ddl = |s: String| {
        if replicated {
            on_cluster(&s, cluster)
        } else {
            s
        }
    };
    let all = distributed_database(db);
    client
        .execute(&ddl(crate::bookkeeping::create_database(&all)?))
        .await?;
    let local = columns(client, db, "%MergeTree").await?;
    let twins = columns(client, &all, "Distributed").await?;
    let mut made = Vec::new();
    for (table, cols) in &local {
        match twins.get(table) {
            Some(have) if have == cols => continue,
            Some(_) => {
                // Holds no rows of its own: re-made with the table's new columns.
                client
                    .execute(&ddl(crate::bookkeeping::drop_table(&all, table)?))
                    .await?;
            }
            None => {}
        }
        client
            .execute(&twin_ddl(db, table, cluster, replicated)?)
            .await?;
        tracing::info!(table = %format!("{all}.{table}"), cluster, "distributed table created");
        made.push(table.clone());
    }
    Ok(made)
}

/// The statement that makes `db.table`'s Distributed twin in `<db>_all`, on every server
/// (ON CLUSTER) when `replicated`.
fn twin_ddl(db: &str, table: &str, cluster: &str, replicated: bool) -> Result<String> {
    let stmt = render(
        "distributed_table.sql",
        include_str!("../sql/cluster/distributed_table.sql"),
        Values::new()
            .ident("all_db", &distributed_database(db))
            .ident("db", db)
            .ident("table", table)
            .ident("cluster", cluster),
    )?;
    Ok(if replicated {
        on_cluster(&stmt, cluster)
    } else {
        stmt
    })
}

/// Statement starts that create, change or drop a distributed object; the object's name
/// follows each.
const DDL_STARTS: [&str; 8] = [
    "CREATE DATABASE IF NOT EXISTS ",
    "CREATE TABLE IF NOT EXISTS ",
    "CREATE TABLE ",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS ",
    "CREATE MATERIALIZED VIEW ",
    "ALTER TABLE ",
    "DROP TABLE IF EXISTS ",
    "DROP TABLE ",
];

/// `stmt` run on every server of `cluster` (through Keeper's DDL queue): `ON CLUSTER` after
/// the object's name. Anything else (an INSERT) is returned as it is: it runs where sent.
/// Leading whitespace and comments (`-- …` lines, `/* … */`) are kept and looked past: a
/// statement rendered from a `.sql` file may begin with its file's comment.
pub(crate) fn on_cluster(stmt: &str, cluster: &str) -> String {
    let (comments, code) = stmt.split_at(code_start(stmt));
    for start in DDL_STARTS {
        if let Some(rest) = code.strip_prefix(start) {
            let name_end = rest
                .find(|c: char| c.is_whitespace() || c == '(' || c == ';')
                .unwrap_or(rest.len());
            let (name, tail) = rest.split_at(name_end);
            return format!("{comments}{start}{name} ON CLUSTER {cluster}{tail}");
        }
    }
    stmt.to_string()
}

/// Where the statement's code begins, past leading whitespace, `--` line comments and
/// `/* */` block comments (an unclosed one runs to the end: no code).
fn code_start(stmt: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &stmt[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            at += trimmed.find('\n').map_or(trimmed.len(), |n| n + 1);
        } else if let Some(body) = trimmed.strip_prefix("/*") {
            at += body.find("*/").map_or(trimmed.len(), |n| n + 4);
        } else {
            return at;
        }
    }
}

/// Where each replicated table keeps its replication log: the table's UUID (the same on
/// every replica when created ON CLUSTER, so a table dropped and made again gets a fresh
/// path) and the shard; `{replica}` names the server. Both macros come from each server's
/// config (docker/cluster/macros-*.xml).
const REPLICA_PATH: &str = "'/clickhouse/tables/{uuid}/{shard}', '{replica}'";

/// `ENGINE = [X]MergeTree[(args)]` → `ENGINE = Replicated[X]MergeTree(path, replica[, args])`.
pub(crate) fn replicated(stmt: &str) -> String {
    let Some(at) = stmt.find("ENGINE = ") else {
        return stmt.to_string();
    };
    let engine_at = at + "ENGINE = ".len();
    let rest = &stmt[engine_at..];
    let name_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    if !name.ends_with("MergeTree") || name.starts_with("Replicated") {
        return stmt.to_string();
    }
    let after = &rest[name_end..];
    let (args, tail) = match after.strip_prefix('(') {
        Some(inner) => {
            let close = inner.find(')').unwrap_or(inner.len());
            let args = inner[..close].trim();
            (
                (!args.is_empty()).then(|| args.to_string()),
                &inner[(close + 1).min(inner.len())..],
            )
        }
        None => (None, after),
    };
    let args = match args {
        Some(a) => format!("{REPLICA_PATH}, {a}"),
        None => REPLICA_PATH.to_string(),
    };
    format!("{}Replicated{name}({args}){tail}", &stmt[..engine_at])
}

/// The cluster as this server sees it: shards, and whether they have replicas (then DDL
/// goes ON CLUSTER and tables are Replicated, which needs Keeper).
pub(crate) async fn shape(client: &Client, cluster: &str) -> Result<bool> {
    let shape: Shape = client
        .query_one(&render(
            "cluster_shape.sql",
            include_str!("../sql/cluster/cluster_shape.sql"),
            Values::new().ident("cluster", cluster),
        )?)
        .await?;
    if shape.shards == 0 {
        return Err(Error::Invalid(format!(
            "cluster {cluster:?} is not in this server's remote_servers (system.clusters); \
             define it in the server's config on every shard, or leave out --cluster"
        )));
    }
    let replicated = shape.replicas > 1;
    if replicated {
        // Replicated tables and ON CLUSTER DDL both go through Keeper (or ZooKeeper).
        client
            .execute(include_str!("../sql/cluster/keeper_answers.sql"))
            .await
            .map_err(|e| {
                Error::Invalid(format!(
                    "cluster {cluster:?} has {} replicas per shard, which needs Keeper (or \
                     ZooKeeper) for Replicated tables and ON CLUSTER DDL, and this server has \
                     none configured: {e}",
                    shape.replicas
                ))
            })?;
    }
    Ok(replicated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_goes_on_cluster_and_inserts_stay_local() {
        assert_eq!(
            on_cluster(
                "CREATE TABLE IF NOT EXISTS shop.sales\n(\n    a String\n)",
                "retail"
            ),
            "CREATE TABLE IF NOT EXISTS shop.sales ON CLUSTER retail\n(\n    a String\n)"
        );
        assert_eq!(
            on_cluster(
                "CREATE MATERIALIZED VIEW shop.v TO shop.t AS\nSELECT 1",
                "r"
            ),
            "CREATE MATERIALIZED VIEW shop.v ON CLUSTER r TO shop.t AS\nSELECT 1"
        );
        assert_eq!(
            on_cluster("ALTER TABLE shop.sales\n    ADD COLUMN x String", "r"),
            "ALTER TABLE shop.sales ON CLUSTER r\n    ADD COLUMN x String"
        );
        assert_eq!(
            on_cluster("DROP TABLE IF EXISTS shop.x", "r"),
            "DROP TABLE IF EXISTS shop.x ON CLUSTER r"
        );
        assert_eq!(
            on_cluster("CREATE DATABASE IF NOT EXISTS shop", "r"),
            "CREATE DATABASE IF NOT EXISTS shop ON CLUSTER r"
        );
        let insert = "INSERT INTO shop.sales SELECT 1";
        assert_eq!(on_cluster(insert, "r"), insert);
    }

    #[test]
    fn leading_comments_are_looked_past_for_every_kind_of_statement() {
        let comments = [
            "-- what this is\n-- and why\n",
            "\n  -- indented\n\n",
            "/* a block\n comment */ ",
            "-- a line\n/* then a block */\n-- then a line\n",
        ];
        let cases = [
            (
                "CREATE TABLE IF NOT EXISTS shop.sales\n(\n    a String\n)",
                "CREATE TABLE IF NOT EXISTS shop.sales ON CLUSTER r\n(\n    a String\n)",
            ),
            (
                "CREATE TABLE shop_all.sales AS shop.sales\nENGINE = Distributed(r, shop, sales, rand())",
                "CREATE TABLE shop_all.sales ON CLUSTER r AS shop.sales\nENGINE = Distributed(r, shop, sales, rand())",
            ),
            (
                "CREATE DATABASE IF NOT EXISTS shop",
                "CREATE DATABASE IF NOT EXISTS shop ON CLUSTER r",
            ),
            (
                "CREATE MATERIALIZED VIEW IF NOT EXISTS shop.v TO shop.t AS\nSELECT 1",
                "CREATE MATERIALIZED VIEW IF NOT EXISTS shop.v ON CLUSTER r TO shop.t AS\nSELECT 1",
            ),
            (
                "CREATE MATERIALIZED VIEW shop.v TO shop.t AS\nSELECT 1",
                "CREATE MATERIALIZED VIEW shop.v ON CLUSTER r TO shop.t AS\nSELECT 1",
            ),
            (
                "ALTER TABLE shop.sales\n    ADD COLUMN x String",
                "ALTER TABLE shop.sales ON CLUSTER r\n    ADD COLUMN x String",
            ),
            (
                "DROP TABLE IF EXISTS shop.x",
                "DROP TABLE IF EXISTS shop.x ON CLUSTER r",
            ),
            ("DROP TABLE shop.x;", "DROP TABLE shop.x ON CLUSTER r;"),
        ];
        for (stmt, want) in cases {
            assert_eq!(on_cluster(stmt, "r"), want, "no comment");
            for c in comments {
                assert_eq!(
                    on_cluster(&format!("{c}{stmt}"), "r"),
                    format!("{c}{want}"),
                    "after {c:?}"
                );
            }
        }
        // What runs where it is sent stays as it is, comments and all.
        for c in comments {
            let insert = format!("{c}INSERT INTO shop.sales SELECT 1");
            assert_eq!(on_cluster(&insert, "r"), insert);
        }
        // Comments alone, or a block comment left open: nothing to put on the cluster.
        for odd in ["", "-- only a comment", "/* open CREATE TABLE a.b", "  \n "] {
            assert_eq!(on_cluster(odd, "r"), odd);
        }
        // A comment's own text is not mistaken for the statement.
        let quoted = "-- CREATE TABLE a.b\nINSERT INTO a.b SELECT 1";
        assert_eq!(on_cluster(quoted, "r"), quoted);
    }

    #[test]
    fn distributed_twins_go_on_cluster_with_replicas() {
        // distributed_table.sql begins with comment lines: the twin was made on the server
        // `apply` talked to only.
        let twin = twin_ddl("shop", "sales", "retail", true).unwrap();
        assert!(
            twin.contains(
                "CREATE TABLE shop_all.sales ON CLUSTER retail AS shop.sales\n\
                 ENGINE = Distributed(retail, shop, sales, rand())"
            ),
            "{twin}"
        );
        let local = twin_ddl("shop", "sales", "retail", false).unwrap();
        assert!(!local.contains("ON CLUSTER"), "{local}");
        assert!(
            local.contains("CREATE TABLE shop_all.sales AS shop.sales"),
            "{local}"
        );
    }

    #[test]
    fn merge_trees_become_replicated_with_their_arguments() {
        assert_eq!(
            replicated("CREATE TABLE t (a Int8)\nENGINE = MergeTree\nORDER BY a"),
            "CREATE TABLE t (a Int8)\nENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')\nORDER BY a"
        );
        assert_eq!(
            replicated("ENGINE = ReplacingMergeTree(updated_at)\nORDER BY table"),
            "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', updated_at)\nORDER BY table"
        );
        assert_eq!(
            replicated("ENGINE = AggregatingMergeTree\nPARTITION BY x"),
            "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')\nPARTITION BY x"
        );
        for same in [
            "ENGINE = Kafka\nSETTINGS a = 1",
            "ENGINE = Null",
            "ENGINE = ReplicatedMergeTree('/p', 'r')",
            "INSERT INTO t SELECT 1",
        ] {
            assert_eq!(replicated(same), same);
        }
    }
}
