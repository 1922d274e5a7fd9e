//! The contract's rules for one message, as the pipeline applies them when ClickHouse reads a
//! topic (`crates/schema/sql/ingest/parse/`): what tells a good message from a bad one.
//! The generator's own events always pass; every message of `--bad-ratio` fails.

use serde::Deserialize;

use crate::event::Topic;

/// The pipeline refuses messages larger than this (64 KiB).
pub const MAX_MESSAGE_BYTES: usize = 65_536;

/// Fields both shapes share. Integers are read wide so a negative quantity is a refused
/// value, not a type error, as in the pipeline.
#[derive(Deserialize)]
struct Common {
    event_id: String,
    event_type: String,
    event_time: String,
    product_id: u32,
    product_name: String,
    category: String,
    quantity: i64,
}

// Some fields are read only to check that they are there with the right JSON type.
#[allow(dead_code)]
#[derive(Deserialize)]
struct Sale {
    #[serde(flatten)]
    common: Common,
    price: f64,
    discount: f64,
    total: f64,
    store_id: u32,
    cashier_id: u32,
    customer_id: String,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Movement {
    #[serde(flatten)]
    common: Common,
    warehouse: String,
    movement_type: String,
    source: String,
    responsible: String,
}

fn ensure(ok: bool, reason: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(reason.to_string())
    }
}

/// `Ok` when `payload` is a contract event for `topic`, else why not (for example
/// `"quantity: must be at least 1"`).
pub fn check_message(topic: Topic, payload: &[u8]) -> Result<(), String> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "oversized message: {} bytes (limit {MAX_MESSAGE_BYTES})",
            payload.len()
        ));
    }
    let malformed = |e: serde_json::Error| format!("malformed: {e}");
    let (common, event_type) = match topic {
        Topic::Sales => {
            let s: Sale = serde_json::from_slice(payload).map_err(malformed)?;
            ensure(s.price > 0.0, "price: must be positive")?;
            ensure(
                (0.0..1.0).contains(&s.discount),
                "discount: must be in [0, 1)",
            )?;
            ensure(s.total >= 0.0, "total: must not be negative")?;
            (s.common, crate::SaleEvent::EVENT_TYPE)
        }
        Topic::Warehouse => {
            let m: Movement = serde_json::from_slice(payload).map_err(malformed)?;
            ensure(
                ["supply", "relocation", "write_off"].contains(&m.movement_type.as_str()),
                "movement_type: expected supply, relocation or write_off",
            )?;
            (m.common, crate::StockMovementEvent::EVENT_TYPE)
        }
    };
    let c = common;
    ensure(
        !c.event_id.is_empty() && c.event_id.len() <= 64,
        "event_id: empty or longer than 64 bytes",
    )?;
    ensure(c.event_type == event_type, "event_type: not this topic's")?;
    let time = chrono::NaiveDateTime::parse_from_str(&c.event_time, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| "event_time: not a valid YYYY-MM-DD HH:MM:SS time".to_string())?;
    ensure(
        time <= chrono::Local::now().naive_local() + chrono::TimeDelta::days(1),
        "event_time: more than a day in the future",
    )?;
    ensure(c.product_id >= 1, "product_id: must be at least 1")?;
    ensure(
        !c.product_name.is_empty() && c.product_name.len() <= 256,
        "product_name: empty or longer than 256 bytes",
    )?;
    ensure(c.category.len() <= 256, "category: longer than 256 bytes")?;
    ensure(c.quantity >= 1, "quantity: must be at least 1")
}
