//! `pipeline generate --bad-ratio`: the summary counts bad messages apart from the events,
//! the topics hold exactly what was acknowledged, and what is bad really breaks the contract.

use std::collections::BTreeSet;

use crate::common::{generate_seeded, read_all};
use generate::{check_message, Generator, GeneratorConfig, Message, Topic};
use serde_json::Value;
use testkit::TestEnv;

const SEED: u64 = 7;
const COUNT: u64 = 500;
const RATIO: &str = "0.2";
/// What seed 7 gives for 500 messages at ratio 0.2, per topic (events, bad messages), and
/// among the bad ones how many are over `MAX_MESSAGE_BYTES` and how many are not JSON.
/// Counted once from a run of this test: the generator draws from ChaCha8 seeded with
/// `SEED`, so these are the same on every machine and every run; a change to the
/// generator's draws shows here first.
const SALES: (u64, u64) = (280, 63);
const WAREHOUSE: (u64, u64) = (130, 27);
const OVERSIZED: usize = 10;
const NOT_JSON: usize = 24;

/// Per topic of a `--json` summary: (events, bad).
fn counts(summary: &Value, topic: &str) -> (u64, u64) {
    let t = summary["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic)
        .unwrap_or_else(|| panic!("{topic} not in {summary}"));
    assert_eq!(t["failed"], 0, "{summary}");
    assert_eq!(t["in_flight"], 0, "{summary}");
    (t["events"].as_u64().unwrap(), t["bad"].as_u64().unwrap())
}

fn event_id(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    Some(v.get("event_id")?.as_str()?.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_messages_are_counted_apart_and_break_the_contract() {
    let env = TestEnv::new("bad").await;
    let out = generate_seeded(&env, SEED, COUNT, &["--bad-ratio", RATIO, "--json"]);
    let summary: Value = serde_json::from_str(out.trim()).expect("JSON summary");

    // What the same seed gives in process: the ids of the good and the bad messages.
    let mut generator = Generator::new(&GeneratorConfig {
        seed: Some(SEED),
        bad_ratio: RATIO.parse().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let at = generate::EventTime(*b"2026-01-01 00:00:00");
    let (mut want_good, mut want_bad) = (BTreeSet::new(), BTreeSet::new());
    // Per topic (events, bad), sales first.
    let mut in_process = [(0, 0); 2];
    for _ in 0..COUNT {
        match generator.next_message(at) {
            Message::Event(e) => {
                in_process[usize::from(e.topic() == Topic::Warehouse)].0 += 1;
                want_good.insert(e.event_id().to_string())
            }
            Message::Bad(b) => {
                in_process[usize::from(b.topic == Topic::Warehouse)].1 += 1;
                want_bad.insert(event_id(&b.payload))
            }
        };
    }
    assert_eq!(
        in_process,
        [SALES, WAREHOUSE],
        "seed {SEED} in process: (events, bad) per topic"
    );

    let (mut total_good, mut total_bad) = (0, 0);
    let (mut oversized, mut not_json) = (0, 0);
    let mut per_topic = Vec::new();
    let (mut good_ids, mut bad_ids) = (BTreeSet::new(), BTreeSet::new());
    for (topic, name) in [
        (Topic::Sales, &env.sales_topic),
        (Topic::Warehouse, &env.warehouse_topic),
    ] {
        let (events, bad) = counts(&summary, name);
        per_topic.push((events, bad));
        let messages = read_all(&env, name);
        assert_eq!(
            messages.len() as u64,
            events + bad,
            "{name} holds exactly the acknowledged messages"
        );
        let mut good_here = 0;
        for m in &messages {
            let id = event_id(m);
            match check_message(topic, m) {
                Ok(()) => {
                    good_here += 1;
                    good_ids.insert(id.expect("a good event has an event_id"));
                }
                Err(_) => {
                    if let Some(id) = &id {
                        assert!(id.starts_with("bad-"), "a bad message with id {id}");
                    }
                    oversized += usize::from(m.len() > generate::MAX_MESSAGE_BYTES);
                    not_json += usize::from(serde_json::from_slice::<Value>(m).is_err());
                    bad_ids.insert(id);
                }
            }
        }
        assert_eq!(good_here, events, "{name}: events that pass the contract");
        total_good += events;
        total_bad += bad;
    }
    assert_eq!(
        total_good + total_bad,
        COUNT,
        "bad messages replace events: {summary}"
    );
    assert_eq!(
        per_topic,
        [SALES, WAREHOUSE],
        "seed {SEED}, {COUNT} messages at ratio {RATIO}: (events, bad) per topic"
    );
    assert_eq!(
        (oversized, not_json),
        (OVERSIZED, NOT_JSON),
        "seed {SEED}: bad messages over {} bytes, and not JSON",
        generate::MAX_MESSAGE_BYTES
    );
    // The run is the seed's: the same events, the same bad messages.
    assert_eq!(good_ids, want_good);
    assert_eq!(bad_ids, want_bad);

    // The table shows the same figures, "bad" in its last column.
    let env = TestEnv::new("bad_table").await;
    let table = generate_seeded(&env, SEED, COUNT, &["--bad-ratio", RATIO]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["topic", "events", "bytes", "events/s", "failed", "bad"]
    );
    for (name, json_name) in [
        (&env.sales_topic, "_sales"),
        (&env.warehouse_topic, "_warehouse"),
    ] {
        let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(row[0], name.as_str());
        let first_run = summary["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"].as_str().unwrap().ends_with(json_name))
            .unwrap();
        assert_eq!(row[1], first_run["events"].to_string(), "{table}");
        assert_eq!(row[4], "0", "{table}");
        assert_eq!(row[5], first_run["bad"].to_string(), "{table}");
    }
}
