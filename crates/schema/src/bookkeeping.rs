//! What `schema apply` reads and writes about the schema itself (`sql/bookkeeping/`): which
//! tables exist, which migrations ran, which version of each ingest object is in place.
//! Each query's row type is declared with its file (`statement!`).

use std::collections::{BTreeMap, BTreeSet};

use clickhouse_http::template::{self, Statement, Values};
use clickhouse_http::{statement, Client};
use serde::de::DeserializeOwned;

use crate::{Error, Result};

fn sql(name: &str, source: &str, values: Values) -> Result<String> {
    template::render(name, source, &values, &|_| None).map_err(Error::Template)
}

statement!(EXISTING_TABLES = "bookkeeping/existing_tables" => Table { name: String });
statement!(DATABASE_EXISTS = "bookkeeping/database_exists" => Count { n: u64 });
statement!(APPLIED_MIGRATIONS = "bookkeeping/applied_migrations" => Applied { version: u32 });
statement!(RECORDED_INGEST = "bookkeeping/recorded_ingest" => Recorded {
    name: String,
    checksum: String,
});

/// The rows of `statement` over database `db`.
async fn rows<R: DeserializeOwned>(
    client: &Client,
    statement: &Statement<R>,
    db: &str,
) -> Result<Vec<R>> {
    let q = sql(
        statement.name,
        statement.text,
        Values::new().ident("db", db),
    )?;
    Ok(client.query(&q).await?)
}

/// The tables and views of `db` (none if it does not exist).
pub async fn existing_tables(client: &Client, db: &str) -> Result<BTreeSet<String>> {
    let tables = rows(client, &EXISTING_TABLES, db).await?;
    Ok(tables.into_iter().map(|r| r.name).collect())
}

pub async fn database_exists(client: &Client, db: &str) -> Result<bool> {
    let counts = rows(client, &DATABASE_EXISTS, db).await?;
    Ok(counts.first().is_some_and(|c| c.n > 0))
}

/// The versions of the migrations recorded in `db.schema_migrations`, ascending.
pub async fn applied_migrations(client: &Client, db: &str) -> Result<Vec<u32>> {
    let applied = rows(client, &APPLIED_MIGRATIONS, db).await?;
    Ok(applied.into_iter().map(|r| r.version).collect())
}

/// Each ingest object's checksum as last created.
pub async fn recorded_ingest(client: &Client, db: &str) -> Result<BTreeMap<String, String>> {
    let recorded = rows(client, &RECORDED_INGEST, db).await?;
    Ok(recorded.into_iter().map(|r| (r.name, r.checksum)).collect())
}

pub async fn record_migration(
    client: &Client,
    db: &str,
    version: u32,
    name: &str,
    checksum: &str,
) -> Result<()> {
    let q = sql(
        "bookkeeping/record_migration.sql",
        include_str!("../sql/bookkeeping/record_migration.sql"),
        Values::new()
            .ident("db", db)
            .int("version", version)
            .string("name", name)
            .string("checksum", checksum),
    )?;
    Ok(client.execute(&q).await?)
}

pub async fn record_ingest(client: &Client, db: &str, name: &str, checksum: &str) -> Result<()> {
    let q = sql(
        "bookkeeping/record_ingest.sql",
        include_str!("../sql/bookkeeping/record_ingest.sql"),
        Values::new()
            .ident("db", db)
            .string("name", name)
            .string("checksum", checksum),
    )?;
    Ok(client.execute(&q).await?)
}

pub fn create_database(db: &str) -> Result<String> {
    sql(
        "bookkeeping/create_database.sql",
        include_str!("../sql/bookkeeping/create_database.sql"),
        Values::new().ident("db", db),
    )
    .map(|s| s.trim_end().to_string())
}

pub fn drop_table(db: &str, table: &str) -> Result<String> {
    sql(
        "bookkeeping/drop_table.sql",
        include_str!("../sql/bookkeeping/drop_table.sql"),
        Values::new().ident("db", db).ident("table", table),
    )
    .map(|s| s.trim_end().to_string())
}
