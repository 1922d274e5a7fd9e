//! Malformed messages for demos and tests of the pipeline's defences (`--bad-ratio`). Each
//! is made from a valid event and is wrong in one known way; its `event_id`, where it has
//! one, starts with `bad-`, so it never collides with a good event.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::event::{Event, EventTime, Topic};
use crate::Generator;

/// Length of an oversized message's `product_name`: well over the pipeline's 64 KiB limit,
/// well under librdkafka's default `message.max.bytes` (1,000,000), so the broker takes it.
const OVERSIZED_NAME_BYTES: usize = 100_000;

/// What is wrong with a bad message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadKind {
    /// A JSON object cut short.
    TruncatedJson,
    /// A line of plain text.
    NotJson,
    /// Random bytes, not UTF-8. Half of them hold a lone CR (0x0D), half a DEL (0x7F):
    /// bytes that stop ClickHouse 18.16's raw reader and need its recovery path.
    BinaryGarbage,
    /// `quantity` as the string "two", or (sales) `price` as a string.
    WrongType,
    /// A required field left out: `event_id`, `event_time`, `quantity`, and `price` (sales)
    /// or `movement_type` (warehouse).
    MissingField,
    /// `event_type` "refund" on sales, "teleport" on warehouse.
    UnknownEventType,
    /// Warehouse only: `movement_type` "lost_in_transit".
    UnknownMovementType,
    /// A negative `quantity`.
    NegativeQuantity,
    /// Sales only: `price` and `total` 0.
    ZeroPrice,
    /// `event_time` "yesterday".
    UnparsableTime,
    /// `event_time` in 2099.
    FarFutureTime,
    /// A valid-looking event whose `product_name` is ~100 KB.
    Oversized,
}

use BadKind::*;

const SALES_KINDS: [BadKind; 11] = [
    TruncatedJson,
    NotJson,
    BinaryGarbage,
    WrongType,
    MissingField,
    UnknownEventType,
    NegativeQuantity,
    ZeroPrice,
    UnparsableTime,
    FarFutureTime,
    Oversized,
];

const WAREHOUSE_KINDS: [BadKind; 11] = [
    TruncatedJson,
    NotJson,
    BinaryGarbage,
    WrongType,
    MissingField,
    UnknownEventType,
    UnknownMovementType,
    NegativeQuantity,
    UnparsableTime,
    FarFutureTime,
    Oversized,
];

impl BadKind {
    /// The kinds a message on `topic` is drawn from, uniformly: every kind that has a
    /// meaning there (a stock movement has no price, a sale no movement type).
    pub fn for_topic(topic: Topic) -> &'static [BadKind] {
        match topic {
            Topic::Sales => &SALES_KINDS,
            Topic::Warehouse => &WAREHOUSE_KINDS,
        }
    }
}

/// One malformed message, ready to publish.
#[derive(Debug, Clone)]
pub struct BadMessage {
    pub kind: BadKind,
    pub topic: Topic,
    /// The product of the event it was made from: its key, as for a good event.
    pub product_id: u32,
    pub payload: Vec<u8>,
}

/// Replaces events by bad messages with probability `ratio`. Its random numbers and the
/// events it spoils come from streams of their own, so the good events of a run are the
/// same as those of a run without bad messages (fewer of them, in the same order).
pub(crate) struct BadSource {
    ratio: f64,
    rng: ChaCha8Rng,
    donor: Generator,
}

impl BadSource {
    pub(crate) fn new(ratio: f64, rng: ChaCha8Rng, donor: Generator) -> Self {
        BadSource { ratio, rng, donor }
    }

    /// A bad message in place of the next event, or `None` for a good one.
    pub(crate) fn next(&mut self, at: EventTime) -> Option<BadMessage> {
        if !self.rng.random_bool(self.ratio) {
            return None;
        }
        let event = self.donor.next_event(at);
        Some(self.spoil(&event, at))
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.rng.random_range(0..from.len())]
    }

    fn spoil(&mut self, event: &Event, at: EventTime) -> BadMessage {
        let topic = event.topic();
        let kind = self.pick(BadKind::for_topic(topic));
        let value = match event {
            Event::Sale(e) => serde_json::to_value(e),
            Event::StockMovement(e) => serde_json::to_value(e),
        };
        // Fields come out in alphabetical order (serde_json's map); consumers read by name.
        let Ok(Value::Object(mut fields)) = value else {
            unreachable!("an event serializes as a JSON object")
        };
        let id = format!("bad-{}", event.event_id());
        fields.insert("event_id".into(), id.clone().into());
        let payload = match kind {
            TruncatedJson => truncated(&fields, &mut self.rng),
            NotJson => format!(
                "{id}: {} × {} at {} (plain text, not JSON)",
                fields["quantity"],
                fields["product_name"].as_str().unwrap_or_default(),
                at.as_str()
            )
            .into_bytes(),
            BinaryGarbage => garbage(&mut self.rng),
            _ => {
                self.alter(kind, topic, &mut fields, at);
                serde_json::to_vec(&fields).expect("serializing into memory cannot fail")
            }
        };
        BadMessage {
            kind,
            topic,
            product_id: event.product_id(),
            payload,
        }
    }

    /// Makes a valid event's fields wrong in the way `kind` says.
    fn alter(
        &mut self,
        kind: BadKind,
        topic: Topic,
        fields: &mut Map<String, Value>,
        at: EventTime,
    ) {
        let (name, value): (&str, Value) = match kind {
            WrongType if topic == Topic::Sales && self.rng.random_bool(0.5) => {
                let price = fields["price"].as_f64().unwrap_or_default();
                ("price", format!("{price:.2}").into())
            }
            WrongType => ("quantity", "two".into()),
            MissingField => {
                let last = match topic {
                    Topic::Sales => "price",
                    Topic::Warehouse => "movement_type",
                };
                fields.remove(self.pick(&["event_id", "event_time", "quantity", last]));
                return;
            }
            UnknownEventType => match topic {
                Topic::Sales => ("event_type", "refund".into()),
                Topic::Warehouse => ("event_type", "teleport".into()),
            },
            UnknownMovementType => ("movement_type", "lost_in_transit".into()),
            NegativeQuantity => {
                let q = fields["quantity"].as_i64().unwrap_or(1);
                ("quantity", (-q).into())
            }
            ZeroPrice => {
                fields.insert("total".into(), 0.into());
                ("price", 0.into())
            }
            UnparsableTime => ("event_time", "yesterday".into()),
            // The same time of day, on a date that exists in every year.
            FarFutureTime => (
                "event_time",
                format!("2099-01-01{}", &at.as_str()[10..]).into(),
            ),
            Oversized => {
                let name = fields["product_name"].as_str().unwrap_or("x");
                ("product_name", oversized(name).into())
            }
            TruncatedJson | NotJson | BinaryGarbage => unreachable!("not made from fields"),
        };
        fields.insert(name.into(), value);
    }
}

/// The object's JSON cut at a random point (on a character boundary, so it stays text).
fn truncated(fields: &Map<String, Value>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut text = serde_json::to_string(fields).expect("serializing into memory cannot fail");
    let mut cut = rng.random_range(1..text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.into_bytes()
}

/// 16..=256 random bytes starting with a UTF-8 continuation byte, so they are never JSON
/// nor text. CR, LF and DEL appear only where placed on purpose: a lone CR in half of them,
/// a DEL in half of them (independently).
fn garbage(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let len = rng.random_range(16..=256);
    let mut bytes = vec![rng.random_range(0x80..=0xBF)];
    while bytes.len() < len {
        let b: u8 = rng.random();
        if !matches!(b, b'\r' | b'\n' | 0x7F) {
            bytes.push(b);
        }
    }
    for special in [b'\r', 0x7F] {
        if rng.random_bool(0.5) {
            let at = rng.random_range(1..=bytes.len());
            bytes.insert(at, special);
        }
    }
    bytes
}

/// `name` repeated to at least `OVERSIZED_NAME_BYTES`.
fn oversized(name: &str) -> String {
    let mut s = String::with_capacity(OVERSIZED_NAME_BYTES + name.len() + 1);
    while s.len() < OVERSIZED_NAME_BYTES {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(name);
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;
    use crate::{check_message, GeneratorConfig, Message, MAX_MESSAGE_BYTES};

    fn now() -> EventTime {
        EventTime::from_naive(chrono::Local::now().naive_local())
    }

    fn generator(seed: u64, bad_ratio: f64) -> Generator {
        Generator::new(&GeneratorConfig {
            seed: Some(seed),
            bad_ratio,
            ..Default::default()
        })
        .unwrap()
    }

    fn bytes(m: &Message) -> Vec<u8> {
        match m {
            Message::Event(e) => {
                let mut buf = Vec::new();
                e.write_json(&mut buf);
                buf
            }
            Message::Bad(b) => b.payload.clone(),
        }
    }

    fn bad_ones(seed: u64, n: usize) -> Vec<BadMessage> {
        let mut g = generator(seed, 1.0);
        let at = now();
        (0..n)
            .map(|_| match g.next_message(at) {
                Message::Bad(b) => b,
                Message::Event(e) => panic!("ratio 1 gave an event: {e:?}"),
            })
            .collect()
    }

    #[test]
    fn ratio_zero_gives_only_the_usual_events() {
        let (mut mixed, mut plain) = (generator(11, 0.0), generator(11, 0.0));
        let at = now();
        for _ in 0..5_000 {
            let Message::Event(e) = mixed.next_message(at) else {
                panic!("ratio 0 gave a bad message");
            };
            let (mut x, mut y) = (Vec::new(), Vec::new());
            e.write_json(&mut x);
            plain.next_event(at).write_json(&mut y);
            assert_eq!(x, y);
        }
    }

    #[test]
    fn same_seed_same_messages() {
        let (mut a, mut b) = (generator(7, 0.3), generator(7, 0.3));
        let at = now();
        for _ in 0..3_000 {
            assert_eq!(bytes(&a.next_message(at)), bytes(&b.next_message(at)));
        }
        // Another seed gives other messages.
        let (mut a, mut c) = (generator(7, 0.3), generator(8, 0.3));
        let differ = (0..100).any(|_| bytes(&a.next_message(at)) != bytes(&c.next_message(at)));
        assert!(differ);
    }

    #[test]
    fn bad_messages_replace_events_without_changing_them() {
        let (mut mixed, mut plain) = (generator(5, 0.5), generator(5, 0.0));
        let at = now();
        let mut bad = 0;
        for _ in 0..4_000 {
            match mixed.next_message(at) {
                Message::Bad(_) => bad += 1,
                good => assert_eq!(bytes(&good), bytes(&plain.next_message(at))),
            }
        }
        assert!(
            (1_800..2_200).contains(&bad),
            "{bad} bad of 4000 at ratio 0.5"
        );
    }

    #[test]
    fn the_ratio_is_the_share_of_bad_messages() {
        let mut g = generator(3, 0.2);
        let at = now();
        let bad = (0..10_000)
            .filter(|_| matches!(g.next_message(at), Message::Bad(_)))
            .count();
        assert!(
            (1_850..2_150).contains(&bad),
            "{bad} bad of 10000 at ratio 0.2"
        );
    }

    #[test]
    fn every_kind_is_produced_on_both_topics() {
        let seen: BTreeSet<(bool, BadKind)> = bad_ones(1, 3_000)
            .iter()
            .map(|b| (b.topic == Topic::Sales, b.kind))
            .collect();
        for topic in [Topic::Sales, Topic::Warehouse] {
            for kind in BadKind::for_topic(topic) {
                assert!(
                    seen.contains(&(topic == Topic::Sales, *kind)),
                    "{kind:?} never made on {topic:?}"
                );
            }
        }
        let kinds: BTreeSet<BadKind> = seen.iter().map(|(_, k)| *k).collect();
        assert_eq!(kinds.len(), 12, "{kinds:?}");
    }

    #[test]
    fn good_events_pass_the_contract_check() {
        let mut g = generator(2, 0.0);
        let at = now();
        for _ in 0..5_000 {
            let e = g.next_event(at);
            let mut buf = Vec::new();
            e.write_json(&mut buf);
            assert_eq!(check_message(e.topic(), &buf), Ok(()), "{e:?}");
            let other = match e.topic() {
                Topic::Sales => Topic::Warehouse,
                Topic::Warehouse => Topic::Sales,
            };
            assert!(
                check_message(other, &buf).is_err(),
                "{e:?} passes on {other:?}"
            );
        }
    }

    /// Each bad message fails the contract for the reason its kind claims, and looks the way
    /// its kind says.
    #[test]
    fn each_kind_is_bad_the_way_it_claims() {
        let contract_fields = |t: Topic| match t {
            Topic::Sales => 13,
            Topic::Warehouse => 11,
        };
        let mut variants: HashMap<&str, usize> = HashMap::new();
        let mut seen = |what: &'static str| *variants.entry(what).or_default() += 1;
        for b in bad_ones(9, 4_000) {
            let p = &b.payload;
            let reason = check_message(b.topic, p).expect_err("a bad message passes the contract");
            let expected = match b.kind {
                TruncatedJson | NotJson | BinaryGarbage => "malformed",
                WrongType => "invalid type: string",
                MissingField => "missing field",
                UnknownEventType => "event_type",
                UnknownMovementType => "movement_type",
                NegativeQuantity => "quantity",
                ZeroPrice => "price",
                UnparsableTime => "event_time: not a valid",
                FarFutureTime => "event_time: more than a day in the future",
                Oversized => "oversized",
            };
            assert!(reason.contains(expected), "{:?}: {reason}", b.kind);
            let parsed = serde_json::from_slice::<Value>(p);
            if let Ok(Value::Object(o)) = &parsed {
                if let Some(id) = o.get("event_id") {
                    assert!(id.as_str().unwrap().starts_with("bad-"), "{id}");
                }
            }
            let field = |name: &str| parsed.as_ref().unwrap()[name].clone();
            match b.kind {
                TruncatedJson => {
                    assert!(parsed.unwrap_err().is_eof());
                    assert!(p.starts_with(b"{") && std::str::from_utf8(p).is_ok());
                }
                NotJson => {
                    assert!(parsed.is_err());
                    assert!(std::str::from_utf8(p).unwrap().starts_with("bad-"));
                }
                BinaryGarbage => {
                    assert!(parsed.is_err());
                    assert!(std::str::from_utf8(p).is_err());
                    assert!((16..=258).contains(&p.len()));
                    assert!(!p.contains(&b'\n'));
                    if p.contains(&b'\r') {
                        seen("lone CR");
                    }
                    if p.contains(&0x7F) {
                        seen("DEL");
                    }
                    seen("garbage");
                }
                WrongType => {
                    if field("quantity") == "two" {
                        seen("quantity as a string");
                    } else {
                        assert!(field("price").is_string() && b.topic == Topic::Sales);
                        assert!(field("quantity").is_u64());
                        seen("price as a string");
                    }
                }
                MissingField => {
                    let o = parsed.unwrap();
                    let o = o.as_object().unwrap();
                    assert_eq!(o.len(), contract_fields(b.topic) - 1);
                    let required = [
                        "event_id",
                        "event_time",
                        "quantity",
                        "price",
                        "movement_type",
                    ];
                    // Four of these are the topic's; one is missing.
                    let present = required.iter().filter(|f| o.contains_key(**f)).count();
                    assert_eq!(present, 3, "{o:?}");
                }
                UnknownEventType => {
                    let t = field("event_type");
                    assert!(t == "refund" || t == "teleport", "{t}");
                }
                UnknownMovementType => {
                    assert_eq!(b.topic, Topic::Warehouse);
                    assert_eq!(field("movement_type"), "lost_in_transit");
                }
                NegativeQuantity => assert!(field("quantity").as_i64().unwrap() < 0),
                ZeroPrice => {
                    assert_eq!(b.topic, Topic::Sales);
                    assert_eq!(field("price").as_f64(), Some(0.0));
                }
                UnparsableTime => assert_eq!(field("event_time"), "yesterday"),
                FarFutureTime => {
                    assert!(field("event_time").as_str().unwrap().starts_with("2099-"))
                }
                Oversized => {
                    assert!(
                        p.len() > MAX_MESSAGE_BYTES && p.len() < 1_000_000,
                        "{}",
                        p.len()
                    );
                    assert_eq!(
                        parsed.unwrap().as_object().unwrap().len(),
                        contract_fields(b.topic)
                    );
                }
            }
        }
        let garbage = variants["garbage"];
        for v in [
            "lone CR",
            "DEL",
            "quantity as a string",
            "price as a string",
        ] {
            let n = variants.get(v).copied().unwrap_or(0);
            assert!(n > 0, "no {v} in {variants:?}");
            if v != "price as a string" && v != "quantity as a string" {
                assert!(n < garbage, "every garbage message has a {v}: {variants:?}");
            }
        }
    }

    #[test]
    fn rejects_a_ratio_outside_0_1() {
        for bad_ratio in [-0.1, 1.5, f64::NAN] {
            let cfg = GeneratorConfig {
                bad_ratio,
                ..Default::default()
            };
            assert!(Generator::new(&cfg).is_err(), "{bad_ratio}");
        }
    }
}
