//! `/metrics`: the health snapshot in Prometheus' text format (0.0.4). Every family has
//! HELP and TYPE, counters end in `_total`, and the output passes `promtool check metrics`
//! (crates/pipeline/tests/it/prometheus.rs). The names are what deploy/monitoring's alert rules
//! and Grafana dashboard query.

use std::fmt::Write;

use crate::health::HealthSnapshot;

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(self.0, "{name}{labels} {v}");
        }
    }
}

/// `{k="v"}`, the value escaped as the format requires.
fn label(k: &str, v: &str) -> String {
    format!(
        "{{{k}=\"{}\"}}",
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

pub fn render(h: &HealthSnapshot) -> String {
    let mut out = Out(String::new());
    out.family(
        "pipeline_clickhouse_up",
        "1 when ClickHouse answers.",
        "gauge",
        vec![(String::new(), h.clickhouse.ok as u8 as f64)],
    );
    out.family(
        "pipeline_broker_up",
        "1 when the Kafka broker answers.",
        "gauge",
        vec![(String::new(), h.broker.ok as u8 as f64)],
    );
    out.family(
        "pipeline_table_rows",
        "Rows in each target table.",
        "gauge",
        h.topics
            .iter()
            .filter_map(|t| t.rows.map(|r| (label("table", &t.table), r as f64)))
            .collect(),
    );
    out.family(
        "pipeline_table_landed_per_second",
        "Rows landed per second in each target table, over the last 10 s.",
        "gauge",
        h.topics
            .iter()
            .filter_map(|t| t.landed_per_s.map(|r| (label("table", &t.table), r)))
            .collect(),
    );
    out.family(
        "pipeline_topic_messages_total",
        "Messages ever produced to the topic (sum of its partition end offsets).",
        "counter",
        h.topics
            .iter()
            .filter_map(|t| {
                t.broker_end_offset
                    .map(|r| (label("topic", &t.topic), r as f64))
            })
            .collect(),
    );
    out.family(
        "pipeline_topic_produced_per_second",
        "Messages produced per second to the topic, over the last 10 s.",
        "gauge",
        h.topics
            .iter()
            .filter_map(|t| t.produced_per_s.map(|r| (label("topic", &t.topic), r)))
            .collect(),
    );
    out.family(
        "pipeline_consumer_lag",
        "Messages on the topic not yet committed by ClickHouse's consumer group.",
        "gauge",
        h.topics
            .iter()
            .filter_map(|t| t.lag.map(|r| (label("topic", &t.topic), r as f64)))
            .collect(),
    );
    out.family(
        "pipeline_consumer_stalled_seconds",
        "Seconds a table has gained no row while messages wait on its topic (absent when flowing).",
        "gauge",
        h.topics
            .iter()
            .filter_map(|t| {
                t.stalled_for_s
                    .map(|s| (label("topic", &t.topic), s as f64))
            })
            .collect(),
    );
    // A gauge: dead letters leave the table (TTL after 30 days; `pipeline dead-letters purge`).
    out.family(
        "pipeline_dead_letters",
        "Messages of the topic refused by the views and kept in the dead_letter table.",
        "gauge",
        h.topics
            .iter()
            .filter_map(|t| t.dead_letters.map(|d| (label("topic", &t.topic), d as f64)))
            .collect(),
    );
    let mut latency = Vec::new();
    if let Some(v) = h.latency_ms.p50 {
        latency.push(("{quantile=\"0.5\"}".to_string(), v as f64 / 1000.0));
    }
    if let Some(v) = h.latency_ms.p95 {
        latency.push(("{quantile=\"0.95\"}".to_string(), v as f64 / 1000.0));
    }
    // Quantiles over the last 600 probe events: a summary without _sum and _count.
    out.family(
        "pipeline_produce_to_queryable_seconds",
        "Broker acknowledgement to visible in ClickHouse, over the last 600 probe events.",
        "summary",
        latency,
    );
    if let Some(g) = &h.generator {
        out.family(
            "pipeline_generator_events_total",
            "Events the broker acknowledged.",
            "counter",
            vec![(String::new(), g.events as f64)],
        );
        out.family(
            "pipeline_generator_failures_total",
            "Events whose delivery failed.",
            "counter",
            vec![(String::new(), g.failures as f64)],
        );
    }
    if !h.guards.is_empty() {
        let per_guard = |f: &dyn Fn(&reconcile::GuardReport) -> f64| {
            h.guards
                .iter()
                .map(|g| (label("guard", &g.name), f(g)))
                .collect::<Vec<_>>()
        };
        out.family(
            "pipeline_guard_passes_total",
            "Passes of each guard of `pipeline up` that worked.",
            "counter",
            per_guard(&|g| g.passes as f64),
        );
        out.family(
            "pipeline_guard_errors_total",
            "Passes of each guard of `pipeline up` that failed.",
            "counter",
            per_guard(&|g| g.errors as f64),
        );
        out.family(
            "pipeline_guard_failing",
            "1 while the guard's last pass failed.",
            "gauge",
            per_guard(&|g| g.failing_since.is_some() as u8 as f64),
        );
        for (owner, counter, help) in reconcile::guards::WORK {
            let samples: Vec<_> = h
                .guards
                .iter()
                .filter(|g| g.name == *owner)
                .map(|g| {
                    (
                        label("guard", &g.name),
                        g.work.get(*counter).copied().unwrap_or(0) as f64,
                    )
                })
                .collect();
            if !samples.is_empty() {
                out.family(
                    &format!("pipeline_guard_{counter}_total"),
                    help,
                    "counter",
                    samples,
                );
            }
        }
    }
    out.0
}
