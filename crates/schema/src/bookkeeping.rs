//! What `schema apply` reads and writes about the schema itself (`sql/bookkeeping/`): which
//! tables exist, which migrations ran, which version of each ingest object is in place.
//! Each query's row type is declared beside the function that runs it.

use std::collections::{BTreeMap, BTreeSet};

use clickhouse_http::template::{self, Values};
use clickhouse_http::Client;
use serde::Deserialize;

use crate::{Error, Result};

fn sql(name: &str, source: &str, values: Values) -> Result<String> {
    template::render(name, source, &values, &|_| None).map_err(Error::Template)
}

/// The rows of one of `sql/bookkeeping/` over database `db`.
async fn rows<T: serde::de::DeserializeOwned>(
    client: &Client,
    name: &str,
    source: &str,
    db: &str,
) -> Result<Vec<T>> {
    Ok(client
        .query(&sql(name, source, Values::new().ident("db", db))?)
        .await?)
}

/// The tables and views of `db` (none if it does not exist).
pub async fn existing_tables(client: &Client, db: &str) -> Result<BTreeSet<String>> {
    #[derive(Deserialize)]
    struct Table {
        name: String,
    }
    let tables: Vec<Table> = rows(
        client,
        "bookkeeping/existing_tables.sql",
        include_str!("../sql/bookkeeping/existing_tables.sql"),
        db,
    )
    .await?;
    Ok(tables.into_iter().map(|r| r.name).collect())
}

pub async fn database_exists(client: &Client, db: &str) -> Result<bool> {
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    let counts: Vec<Count> = rows(
        client,
        "bookkeeping/database_exists.sql",
        include_str!("../sql/bookkeeping/database_exists.sql"),
        db,
    )
    .await?;
    Ok(counts.first().is_some_and(|c| c.n > 0))
}

/// The versions of the migrations recorded in `db.schema_migrations`, ascending.
pub async fn applied_migrations(client: &Client, db: &str) -> Result<Vec<u32>> {
    #[derive(Deserialize)]
    struct Applied {
        version: u32,
    }
    let applied: Vec<Applied> = rows(
        client,
        "bookkeeping/applied_migrations.sql",
        include_str!("../sql/bookkeeping/applied_migrations.sql"),
        db,
    )
    .await?;
    Ok(applied.into_iter().map(|r| r.version).collect())
}

/// Each ingest object's checksum as last created.
pub async fn recorded_ingest(client: &Client, db: &str) -> Result<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Recorded {
        name: String,
        checksum: String,
    }
    let recorded: Vec<Recorded> = rows(
        client,
        "bookkeeping/recorded_ingest.sql",
        include_str!("../sql/bookkeeping/recorded_ingest.sql"),
        db,
    )
    .await?;
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
