//! The two event shapes of the contract. Field order and JSON types are the contract's.

use serde::{Serialize, Serializer};
use uuid::Uuid;

/// `YYYY-MM-DD HH:MM:SS`, local time, stored inline so an event needs no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EventTime(pub [u8; 19]);

impl EventTime {
    pub fn from_naive(t: chrono::NaiveDateTime) -> Self {
        let mut buf = [0u8; 19];
        let s = t.format("%Y-%m-%d %H:%M:%S").to_string();
        buf.copy_from_slice(&s.as_bytes()[..19]);
        EventTime(buf)
    }
    pub fn as_str(&self) -> &str {
        // Built only from chrono's ASCII output above.
        std::str::from_utf8(&self.0).expect("event time is ASCII")
    }
}

impl std::fmt::Debug for EventTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Money in kopecks, written to JSON as a number of roubles with at most two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(pub i64);

impl Cents {
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// A discount in whole percent, written as a fraction (`15` → `0.15`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscountPercent(pub u8);

impl Serialize for DiscountPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0 as f64 / 100.0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SaleEvent {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub event_time: EventTime,
    pub product_id: u32,
    pub product_name: &'static str,
    pub category: &'static str,
    pub quantity: u32,
    pub price: Cents,
    pub discount: DiscountPercent,
    pub total: Cents,
    pub store_id: u32,
    pub cashier_id: u32,
    pub customer_id: Uuid,
}

impl SaleEvent {
    pub const EVENT_TYPE: &'static str = "sale";

    /// `round(price × quantity × (1 − discount), 2)`, computed in integers so it is exact;
    /// halves round away from zero.
    pub fn total_for(price: Cents, quantity: u32, discount: DiscountPercent) -> Cents {
        let hundredths_of_cents = price.0 * quantity as i64 * (100 - discount.0 as i64);
        Cents((hundredths_of_cents + 50) / 100)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementType {
    Supply,
    Relocation,
    WriteOff,
}

impl MovementType {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementType::Supply => "supply",
            MovementType::Relocation => "relocation",
            MovementType::WriteOff => "write_off",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StockMovementEvent {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub event_time: EventTime,
    pub product_id: u32,
    pub product_name: &'static str,
    pub category: &'static str,
    pub warehouse: &'static str,
    pub quantity: u32,
    pub movement_type: MovementType,
    pub source: &'static str,
    pub responsible: &'static str,
}

impl StockMovementEvent {
    pub const EVENT_TYPE: &'static str = "stock_movement";
}

/// The topic a message belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Sales,
    Warehouse,
}

#[derive(Debug, Clone)]
pub enum Event {
    Sale(SaleEvent),
    StockMovement(StockMovementEvent),
}

impl Event {
    pub fn event_id(&self) -> Uuid {
        match self {
            Event::Sale(e) => e.event_id,
            Event::StockMovement(e) => e.event_id,
        }
    }
    pub fn topic(&self) -> Topic {
        match self {
            Event::Sale(_) => Topic::Sales,
            Event::StockMovement(_) => Topic::Warehouse,
        }
    }
    pub fn product_id(&self) -> u32 {
        match self {
            Event::Sale(e) => e.product_id,
            Event::StockMovement(e) => e.product_id,
        }
    }
    /// Appends the event's JSON (one object, no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let r = match self {
            Event::Sale(e) => serde_json::to_writer(&mut *out, e),
            Event::StockMovement(e) => serde_json::to_writer(&mut *out, e),
        };
        r.expect("serializing an event into memory cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_exact_and_rounds_half_up() {
        // 1234.50 × 3 × 0.85 = 3147.975 → 3147.98
        assert_eq!(
            SaleEvent::total_for(Cents(123_450), 3, DiscountPercent(15)),
            Cents(314_798)
        );
        assert_eq!(
            SaleEvent::total_for(Cents(100), 1, DiscountPercent(0)),
            Cents(100)
        );
        assert_eq!(
            SaleEvent::total_for(Cents(999_999), 5, DiscountPercent(30)),
            Cents(3_499_997)
        );
    }

    #[test]
    fn money_serializes_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&Cents(314_798)).unwrap(), "3147.98");
        assert_eq!(serde_json::to_string(&DiscountPercent(15)).unwrap(), "0.15");
        assert_eq!(
            serde_json::to_string(&MovementType::WriteOff).unwrap(),
            "\"write_off\""
        );
    }
}
