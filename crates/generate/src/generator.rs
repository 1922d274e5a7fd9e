//! A seeded source of events. The same seed gives the same events (ids, products, amounts,
//! customers) apart from their timestamps, which are always "now".

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::bad::{BadMessage, BadSource};
use crate::catalogue::{Catalogue, Locale};
use crate::event::{
    Cents, DiscountPercent, Event, EventTime, MovementType, SaleEvent, StockMovementEvent,
};

const STORES: u32 = 10;
const CASHIERS_PER_STORE: u32 = 2;
/// Regular customers; most sales go to them, a few to first-time buyers.
const REGULAR_CUSTOMERS: usize = 2_000;
const FIRST_TIME_BUYER_SHARE: f64 = 0.15;
/// Discounts on offer, in percent; no discount is the most common case.
const DISCOUNTS: [u8; 10] = [0, 0, 0, 0, 5, 10, 15, 20, 25, 30];
/// Most baskets hold one or two of an item.
const QUANTITY_WEIGHTS: [(u32, u32); 5] = [(1, 45), (2, 25), (3, 15), (4, 10), (5, 5)];

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// `None` draws a seed from the OS.
    pub seed: Option<u64>,
    pub locale: Locale,
    /// Share of sales among all events (the contract's mix is 0.7).
    pub sales_share: f64,
    /// Share of messages from [`Generator::next_message`] that are bad instead of events
    /// (0..=1; 0 = none).
    pub bad_ratio: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: None,
            locale: Locale::Ru,
            sales_share: 0.7,
            bad_ratio: 0.0,
        }
    }
}

/// One message for the topics: an event of the contract, or a deliberately bad one.
#[derive(Debug, Clone)]
pub enum Message {
    Event(Event),
    Bad(BadMessage),
}

pub struct Generator {
    rng: ChaCha8Rng,
    catalogue: Catalogue,
    customers: Vec<Uuid>,
    sales_share: f64,
    /// Units on hand per (warehouse, product) in this run, so relocations and write-offs
    /// never move more than a warehouse holds and stock levels stay realistic.
    on_hand: Vec<u32>,
    /// Present when `bad_ratio` > 0.
    bad: Option<Box<BadSource>>,
}

fn uuid_from(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

impl Generator {
    pub fn new(config: &GeneratorConfig) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.sales_share) {
            return Err(format!(
                "sales share {} is not within 0..=1",
                config.sales_share
            ));
        }
        if !(0.0..=1.0).contains(&config.bad_ratio) {
            return Err(format!(
                "bad ratio {} is not within 0..=1",
                config.bad_ratio
            ));
        }
        // Independent streams of one seed: the events (stream 0) do not depend on whether,
        // or how many, bad messages are mixed in (streams 1 and 2).
        let rng = |stream| {
            let mut rng = match config.seed {
                Some(seed) => ChaCha8Rng::seed_from_u64(seed),
                None => ChaCha8Rng::from_os_rng(),
            };
            rng.set_stream(stream);
            rng
        };
        let mut generator = Generator::with_rng(rng(0), config);
        if config.bad_ratio > 0.0 {
            let donor = Generator::with_rng(rng(2), config);
            let source = BadSource::new(config.bad_ratio, rng(1), donor);
            generator.bad = Some(Box::new(source));
        }
        Ok(generator)
    }

    fn with_rng(mut rng: ChaCha8Rng, config: &GeneratorConfig) -> Self {
        let customers = (0..REGULAR_CUSTOMERS)
            .map(|_| uuid_from(&mut rng))
            .collect();
        Generator {
            rng,
            catalogue: Catalogue::new(config.locale),
            customers,
            sales_share: config.sales_share,
            on_hand: vec![0; crate::WAREHOUSE_COUNT * crate::PRODUCT_COUNT],
            bad: None,
        }
    }

    /// The next message: with probability `bad_ratio` a bad one, else the next event. The
    /// events are those `next_event` would give, in the same order: a bad message replaces
    /// an event without consuming one.
    pub fn next_message(&mut self, at: EventTime) -> Message {
        match self.bad.as_mut().and_then(|b| b.next(at)) {
            Some(bad) => Message::Bad(bad),
            None => Message::Event(self.next_event(at)),
        }
    }

    /// A product index skewed towards the front of the catalogue: some goods sell more.
    fn product_index(&mut self) -> usize {
        let r: f64 = self.rng.random();
        ((r * r) * self.catalogue.products.len() as f64) as usize
    }

    pub fn next_event(&mut self, at: EventTime) -> Event {
        if self.rng.random_bool(self.sales_share) {
            Event::Sale(self.sale(at))
        } else {
            Event::StockMovement(self.movement(at))
        }
    }

    fn sale(&mut self, at: EventTime) -> SaleEvent {
        let index = self.product_index();
        let product = self.catalogue.products[index].clone();
        let quantity = {
            let mut roll = self.rng.random_range(0..100u32);
            let mut q = 1;
            for (value, weight) in QUANTITY_WEIGHTS {
                if roll < weight {
                    q = value;
                    break;
                }
                roll -= weight;
            }
            q
        };
        let discount = DiscountPercent(DISCOUNTS[self.rng.random_range(0..DISCOUNTS.len())]);
        let price = Cents(product.price_cents as i64);
        let store_id = self.rng.random_range(1..=STORES);
        let cashier_id =
            (store_id - 1) * CASHIERS_PER_STORE + self.rng.random_range(1..=CASHIERS_PER_STORE);
        let customer_id = if self.rng.random_bool(FIRST_TIME_BUYER_SHARE) {
            uuid_from(&mut self.rng)
        } else {
            // Squaring skews towards the first regulars: a few come back very often.
            let r: f64 = self.rng.random();
            self.customers[((r * r) * REGULAR_CUSTOMERS as f64) as usize]
        };
        SaleEvent {
            event_id: uuid_from(&mut self.rng),
            event_type: SaleEvent::EVENT_TYPE,
            event_time: at,
            product_id: product.id,
            product_name: product.name,
            category: product.category,
            quantity,
            price,
            discount,
            total: SaleEvent::total_for(price, quantity, discount),
            store_id,
            cashier_id,
            customer_id,
        }
    }

    fn movement(&mut self, at: EventTime) -> StockMovementEvent {
        let index = self.product_index();
        let product = self.catalogue.products[index].clone();
        let w = self.rng.random_range(0..self.catalogue.warehouses.len());
        let slot = &mut self.on_hand[w * crate::PRODUCT_COUNT + index];
        let mut movement_type = match self.rng.random_range(0..10u8) {
            0..=4 => MovementType::Supply,
            5..=7 => MovementType::Relocation,
            _ => MovementType::WriteOff,
        };
        let mut quantity = self.rng.random_range(1..=100);
        if movement_type != MovementType::Supply {
            if *slot == 0 {
                movement_type = MovementType::Supply; // nothing to move out: restock instead
            } else {
                quantity = quantity.min(*slot);
            }
        }
        match movement_type {
            MovementType::Supply => *slot += quantity,
            _ => *slot -= quantity,
        }
        let c = &self.catalogue;
        let source = c.suppliers[self.rng.random_range(0..c.suppliers.len())];
        let responsible = c.staff[self.rng.random_range(0..c.staff.len())];
        StockMovementEvent {
            event_id: uuid_from(&mut self.rng),
            event_type: StockMovementEvent::EVENT_TYPE,
            event_time: at,
            product_id: product.id,
            product_name: product.name,
            category: product.category,
            warehouse: c.warehouses[w],
            quantity,
            movement_type,
            source,
            responsible,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn at() -> EventTime {
        EventTime(*b"2026-11-25 12:00:00")
    }

    #[test]
    fn same_seed_same_events() {
        let cfg = GeneratorConfig {
            seed: Some(7),
            ..Default::default()
        };
        let (mut a, mut b) = (Generator::new(&cfg).unwrap(), Generator::new(&cfg).unwrap());
        for _ in 0..1000 {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.next_event(at()).write_json(&mut x);
            b.next_event(at()).write_json(&mut y);
            assert_eq!(x, y);
        }
    }

    #[test]
    fn events_follow_the_contract() {
        let cfg = GeneratorConfig {
            seed: Some(1),
            ..Default::default()
        };
        let mut g = Generator::new(&cfg).unwrap();
        let mut sales = 0;
        let n = 20_000;
        for _ in 0..n {
            let mut buf = Vec::new();
            let e = g.next_event(at());
            e.write_json(&mut buf);
            let v: Value = serde_json::from_slice(&buf).unwrap();
            let o = v.as_object().unwrap();
            assert!(Uuid::parse_str(o["event_id"].as_str().unwrap()).is_ok());
            assert_eq!(o["event_time"], "2026-11-25 12:00:00");
            assert!((1..=50).contains(&o["product_id"].as_u64().unwrap()));
            match e {
                Event::Sale(_) => {
                    sales += 1;
                    assert_eq!(o.len(), 13);
                    assert_eq!(o["event_type"], "sale");
                    let q = o["quantity"].as_u64().unwrap();
                    assert!((1..=5).contains(&q));
                    let price = o["price"].as_f64().unwrap();
                    let discount = o["discount"].as_f64().unwrap();
                    assert!((100.0..=10000.0).contains(&price));
                    assert!((0.0..=0.3).contains(&discount));
                    let expect = (price * q as f64 * (1.0 - discount) * 100.0).round() / 100.0;
                    assert!((o["total"].as_f64().unwrap() - expect).abs() < 0.006);
                    assert!((1..=10).contains(&o["store_id"].as_u64().unwrap()));
                    assert!((1..=20).contains(&o["cashier_id"].as_u64().unwrap()));
                    assert!(Uuid::parse_str(o["customer_id"].as_str().unwrap()).is_ok());
                }
                Event::StockMovement(_) => {
                    assert_eq!(o.len(), 11);
                    assert_eq!(o["event_type"], "stock_movement");
                    assert!((1..=100).contains(&o["quantity"].as_u64().unwrap()));
                    let m = o["movement_type"].as_str().unwrap();
                    assert!(["supply", "relocation", "write_off"].contains(&m));
                }
            }
        }
        let share = sales as f64 / n as f64;
        assert!((0.68..0.72).contains(&share), "sales share {share}");
    }

    #[test]
    fn stock_never_goes_negative() {
        let cfg = GeneratorConfig {
            seed: Some(3),
            sales_share: 0.0,
            ..Default::default()
        };
        let mut g = Generator::new(&cfg).unwrap();
        let mut level = std::collections::HashMap::new();
        for _ in 0..20_000 {
            let Event::StockMovement(m) = g.next_event(at()) else {
                unreachable!()
            };
            let l: &mut i64 = level.entry((m.warehouse, m.product_id)).or_default();
            *l += if m.movement_type == MovementType::Supply {
                1
            } else {
                -1
            } * m.quantity as i64;
            assert!(
                *l >= 0,
                "{} has {} of product {}",
                m.warehouse,
                l,
                m.product_id
            );
        }
    }

    #[test]
    fn rejects_a_share_outside_0_1() {
        let cfg = GeneratorConfig {
            sales_share: 1.5,
            ..Default::default()
        };
        assert!(Generator::new(&cfg).is_err());
    }
}
