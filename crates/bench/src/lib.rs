//! `pipeline bench`: measured phases, one module each, run side by side in one process.
//!
//! - [`ceiling`]: events/s the broker fully acknowledges for the project's generator +
//!   publisher, and for raw librdkafka sending the same pre-serialized messages with the
//!   same producer settings; CPU (and optionally allocations) per event.
//! - [`ingest`]: rows/s the ClickHouse Kafka engine lands in MergeTree from a backlog, per
//!   number of consumers.
//! - [`latency`]: broker acknowledgement → row queryable in ClickHouse, p50/p95/p99/max at
//!   steady rates, the schema sized as `pipeline up` sizes it.
//! - [`api`]: the dashboard API's latency per endpoint at 10M and 100M events, beside the
//!   original demo's SQL on the raw tables, and the dashboard server's RSS.
//! - [`viewers`]: the dashboard server under many SSE viewers and API polling: snapshots per
//!   viewer, errors, latency, the server's memory and CPU, and the ClickHouse statements it
//!   runs per second with one viewer and with many.
//! - [`engine_ceiling`]: what ClickHouse's Kafka engine itself lands per second with one
//!   trivial view, beside the full schema on the same backlog.
//!
//! A phase returns a [`PhaseReport`]: a table for people and JSON for tools. A new phase
//! (latency, the dashboard API) is a new module returning one.

pub mod api;
pub mod broker;
pub mod ceiling;
pub mod engine_ceiling;
pub mod ingest;
pub mod latency;
pub mod measure;
pub mod viewers;

use std::fmt::Write as _;

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// The key of the phase in the JSON (`phases.<name>`).
    pub name: &'static str,
    pub title: String,
    pub table: Table,
    /// Lines printed under the table: conditions, caveats.
    pub notes: Vec<String>,
    pub json: serde_json::Value,
}

impl PhaseReport {
    pub fn render(&self) -> String {
        let mut out = format!("== {} ==\n{}", self.title, self.table.render());
        for n in &self.notes {
            let _ = writeln!(out, "  · {n}");
        }
        out
    }
}

/// A text table: the first column left-aligned, the others right-aligned.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width = vec![0; cols];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, w) in width.iter().enumerate() {
                let c = r.get(i).map(String::as_str).unwrap_or("");
                let pad = w - c.chars().count();
                if i == 0 {
                    let _ = write!(out, "{c}{}", " ".repeat(pad));
                } else {
                    let _ = write!(out, "  {}{c}", " ".repeat(pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// The median of the finite values, `None` when there is none.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A figure for the table: thousands separated, or "not measured".
pub fn fmt_num(v: Option<f64>, decimals: usize) -> String {
    let Some(v) = v else {
        return "not measured".into();
    };
    let s = format!("{v:.decimals$}");
    let (int, frac) = match s.find('.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s.as_str(), ""),
    };
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int),
    };
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped}{frac}")
}

/// Now, in RFC 3339 (UTC), for the JSON.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A unique suffix for the names of one bench run's topics and databases.
pub fn run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{}_{}", std::process::id(), secs % 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([f64::NAN]), None);
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(Some(1234567.891), 1), "1,234,567.9");
        assert_eq!(fmt_num(Some(999.0), 0), "999");
        assert_eq!(fmt_num(Some(-1000.0), 0), "-1,000");
        assert_eq!(fmt_num(None, 0), "not measured");
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["side", "events/s"]);
        t.row(vec!["a".into(), "1,000".into()]);
        assert_eq!(t.render(), "side  events/s\na        1,000\n");
    }
}
