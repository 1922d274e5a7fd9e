//! `reconcile_state`: how far each loop got (a rollup family's block watermark, a
//! partition's verified offset), by key, so a restart goes on from there.

use clickhouse_http::template::Values;
use clickhouse_http::{quote, Client};
use serde::Deserialize;

use crate::{sql, Result};

/// The position recorded under `key`, 0 where none is.
pub async fn position(client: &Client, db: &str, key: &str) -> Result<i64> {
    #[derive(Deserialize)]
    struct Mark {
        max_block: i64,
    }
    let q = sql(
        "watermark.sql",
        include_str!("../sql/watermark.sql"),
        db,
        Values::new().string("key", key),
    )?;
    Ok(client
        .query::<Mark>(&q)
        .await?
        .first()
        .map_or(0, |m| m.max_block))
}

/// Records several positions in one insert (one part).
pub async fn save(client: &Client, db: &str, positions: &[(String, i64)]) -> Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = positions
        .iter()
        .map(|(key, p)| format!("({}, {p}, now())", quote(key)))
        .collect();
    let q = sql(
        "save_state.sql",
        include_str!("../sql/save_state.sql"),
        db,
        Values::new().sql("rows", rows.join(", ")),
    )?;
    client.execute(&q).await?;
    Ok(())
}
