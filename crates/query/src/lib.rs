//! The *query* stage: every question the dashboard asks, as `.sql` files in `sql/`. The SQL
//! only ever receives numbers computed here and names checked by `clickhouse_http::ident`;
//! nothing from a request reaches it except by choosing one of the fixed [`Range`]s.

mod range;
mod statements;
pub mod tiers;

use std::collections::BTreeMap;
use std::future::Future;

use clickhouse_http::template::{self, Statement, Values};
use clickhouse_http::{ident, quote, Client, Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use range::Range;
use statements::*;
use tiers::Tier;

/// The page's view of ClickHouse: read-only, in one database.
#[derive(Clone, Debug)]
pub struct Queries {
    client: Client,
    db: String,
    /// `db` holds Distributed tables over a cluster's shards (no parts of its own).
    distributed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SalesHourly {
    pub labels: Vec<String>,
    pub quantity: Vec<u64>,
    pub revenue: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StockTop {
    pub products: Vec<String>,
    pub incoming: Vec<u64>,
    pub outgoing: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecentSale {
    pub product_id: u32,
    pub product_name: String,
    pub quantity: u32,
    pub price: f64,
    pub event_time: String,
}

/// A dead letter as the page lists it. `preview` is text: the message's first 200
/// characters, invalid UTF-8 replaced by U+FFFD and control characters by their escapes;
/// the page shows it as text, never as markup.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeadLetterPreview {
    pub received_at: u32,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    pub preview: String,
    /// The message is longer than its preview.
    pub truncated: bool,
    /// The whole message's length.
    pub bytes: u64,
}

/// Characters of a message the page shows.
pub const PREVIEW_CHARS: usize = 200;

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn preview(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .take(PREVIEW_CHARS)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() && c != ' ' {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub tables_exist: bool,
    pub existing_tables: Vec<String>,
    pub sales_count: u64,
    pub stock_count: u64,
    pub status: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Kpi<T> {
    pub value: T,
    pub previous: T,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Kpis {
    pub revenue: Kpi<f64>,
    pub orders: Kpi<u64>,
    pub items: Kpi<u64>,
    pub avg_ticket: Kpi<f64>,
    pub unique_customers: Kpi<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Series {
    pub t: Vec<u32>,
    pub revenue: Vec<f64>,
    pub orders: Vec<u64>,
    pub items: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryRevenue {
    pub category: String,
    pub revenue: f64,
    pub orders: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MovementMix {
    pub movement_type: String,
    pub events: u64,
    pub quantity: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockLevel {
    pub warehouse: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    pub supplied: u64,
    pub relocated: u64,
    pub written_off: u64,
    pub level: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TableAudit {
    pub rows: u64,
    pub unique_events: u64,
    /// Events the table's minute rollup counts; equal to `unique_events` once settled.
    pub counted: i64,
    /// Correction rows the rollup check wrote to that rollup, all time.
    pub corrections: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overview {
    pub range: Range,
    pub bucket_seconds: u32,
    pub from: u32,
    pub to: u32,
    pub kpis: Kpis,
    pub series: Series,
    pub revenue_by_category: Vec<CategoryRevenue>,
    pub movement_mix: Vec<MovementMix>,
    pub stock_levels: Vec<StockLevel>,
}

const TABLES: [&str; 2] = ["sales", "stock_movements"];

impl Queries {
    /// `client` should be read-only (see `readonly`); `db` is checked to be an identifier.
    pub fn new(client: Client, db: &str) -> Result<Self> {
        ident(db)?;
        Ok(Queries {
            client,
            db: db.to_string(),
            distributed: false,
        })
    }

    /// `db` holds Distributed tables (cluster mode): row counts come from the shards
    /// rather than from part metadata.
    pub fn distributed(mut self, yes: bool) -> Self {
        self.distributed = yes;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn sql(&self, name: &str, source: &str, extra: Values) -> Result<String> {
        let mut values = Values::new().ident("db", &self.db);
        values.extend(extra);
        let distributed = self.distributed;
        template::render(name, source, &values, &|f| {
            (f == "distributed").then_some(distributed)
        })
        .map_err(Error::Invalid)
    }

    /// `statement` rendered now (a bad value is an error here), run when awaited.
    fn fetch<R: DeserializeOwned>(
        &self,
        statement: &Statement<R>,
        extra: Values,
    ) -> Result<impl Future<Output = Result<Vec<R>>> + '_> {
        let sql = self.sql(statement.name, statement.text, extra)?;
        Ok(async move { self.client.query(&sql).await })
    }

    async fn rows<R: DeserializeOwned>(
        &self,
        statement: &Statement<R>,
        extra: Values,
    ) -> Result<Vec<R>> {
        self.fetch(statement, extra)?.await
    }

    /// The last 24 hours in the *server's* hours (its time zone may be a half-hour one), with
    /// labels in its local time, as the original showed them.
    pub async fn sales_hourly(&self) -> Result<SalesHourly> {
        let hours = self
            .rows(&LAST_24_HOURS, Values::new())
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Decode("no hours".into()))?;
        let first = *hours
            .t
            .first()
            .ok_or_else(|| Error::Decode("no hours".into()))?;
        let rows = self
            .rows(&SALES_HOURLY, self.tier(Tier::Sales, first, first)?)
            .await?;
        let mut out = SalesHourly {
            labels: hours.labels,
            quantity: vec![],
            revenue: vec![],
        };
        for t in &hours.t {
            let row = rows.iter().find(|r| r.t == *t);
            out.quantity.push(row.map_or(0, |r| r.quantity));
            out.revenue.push(row.map_or(0.0, |r| round2(r.revenue)));
        }
        Ok(out)
    }

    pub async fn stock_top(&self, now: u32) -> Result<StockTop> {
        let from = now - 7 * 86_400;
        let rows = self
            .rows(&STOCK_TOP, self.tier(Tier::Stock, from, from)?)
            .await?;
        Ok(StockTop {
            products: rows.iter().map(|r| r.product_name.clone()).collect(),
            incoming: rows.iter().map(|r| r.incoming).collect(),
            outgoing: rows.iter().map(|r| r.outgoing).collect(),
        })
    }

    pub async fn recent_sales(&self) -> Result<Vec<RecentSale>> {
        self.rows(&RECENT_SALES, Values::new()).await
    }

    /// Rows per target table, from part metadata.
    pub async fn table_rows(&self) -> Result<BTreeMap<String, u64>> {
        let rows = self.rows(&TABLE_ROWS, Values::new()).await?;
        let mut out: BTreeMap<String, u64> = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
        out.extend(rows.into_iter().map(|r| (r.table, r.rows)));
        Ok(out)
    }

    /// Refused messages per topic, from the dead_letter table.
    pub async fn dead_letters(&self) -> Result<BTreeMap<String, u64>> {
        let rows = self.rows(&DEAD_LETTERS, Values::new()).await?;
        Ok(rows.into_iter().map(|r| (r.topic, r.rows)).collect())
    }

    /// The latest 50 dead letters, newest first, each with a text preview of its message.
    pub async fn latest_dead_letters(&self) -> Result<Vec<DeadLetterPreview>> {
        let rows = self.rows(&LATEST_DEAD_LETTERS, Values::new()).await?;
        Ok(rows
            .into_iter()
            .map(|r| DeadLetterPreview {
                received_at: r.received_at,
                topic: r.topic,
                partition: r.partition,
                offset: r.offset,
                reason: r.reason,
                preview: preview(&unhex(&r.raw_hex)),
                truncated: r.bytes > r.raw_hex.len() as u64 / 2
                    || String::from_utf8_lossy(&unhex(&r.raw_hex)).chars().count() > PREVIEW_CHARS,
                bytes: r.bytes,
            })
            .collect())
    }

    pub async fn status(&self) -> Result<Status> {
        let existing: Vec<String> = self
            .rows(&EXISTING_TABLES, Values::new())
            .await?
            .into_iter()
            .map(|r| r.name)
            .filter(|n| !n.starts_with("schema_"))
            .collect();
        let tables_exist = TABLES.iter().all(|t| existing.iter().any(|e| e == t));
        let (sales_count, stock_count) = if tables_exist {
            let rows = self.table_rows().await?;
            (rows["sales"], rows["stock_movements"])
        } else {
            (0, 0)
        };
        let status = match (tables_exist, sales_count + stock_count) {
            (false, _) => "error",
            (true, 0) => "waiting_for_data",
            _ => "ready",
        };
        Ok(Status {
            tables_exist,
            existing_tables: existing,
            sales_count,
            stock_count,
            status,
        })
    }

    /// The overview of `range`: its statements run side by side (each reads its own tier;
    /// one after another their round trips would add up).
    pub async fn overview(&self, range: Range, now: u32) -> Result<Overview> {
        let w = range.window(now);

        let bucket_fn = if w.bucket == 3600 {
            "toStartOfHour"
        } else {
            "toStartOfMinute"
        };
        let sales = self.fetch(
            &OVERVIEW_SALES,
            self.tier(Tier::Sales, w.previous_from, w.from)?
                .int("from", w.from)
                .sql("bucket", bucket_fn),
        )?;
        let customers = self.fetch(
            &CUSTOMERS,
            self.tier(Tier::Customers, w.previous_from, w.from)?
                .int("from", w.from),
        )?;
        let mix = self.fetch(&MOVEMENT_MIX, self.tier(Tier::Stock, w.from, w.from)?)?;
        let (sales_rows, customer_rows, movement_mix, stock_levels) =
            futures::try_join!(sales, customers, mix, self.stock_levels(false),)?;

        // (orders, items, kopecks) added up per period, per bucket, per category.
        type Sums = (u64, u64, i64);
        let add = |s: &mut Sums, r: &statements::SalesRow| {
            s.0 += r.orders;
            s.1 += r.items;
            s.2 += r.kopecks;
        };
        let (mut current, mut previous) = (Sums::default(), Sums::default());
        let mut by_t: BTreeMap<u32, Sums> = BTreeMap::new();
        let mut by_category: BTreeMap<&str, Sums> = BTreeMap::new();
        for r in &sales_rows {
            if r.current == 1 {
                add(&mut current, r);
                add(by_t.entry(r.t).or_default(), r);
                add(by_category.entry(&r.category_name).or_default(), r);
            } else {
                add(&mut previous, r);
            }
        }
        let rubles = |kopecks: i64| kopecks as f64 / 100.0;
        let customers = |current: u8| {
            customer_rows
                .iter()
                .find(|r| r.current == current)
                .map_or(0, |r| r.unique_customers)
        };
        let revenue = Kpi {
            value: rubles(current.2),
            previous: rubles(previous.2),
        };
        let kpis = Kpis {
            avg_ticket: Kpi {
                value: avg_ticket(revenue.value, current.0),
                previous: avg_ticket(revenue.previous, previous.0),
            },
            revenue,
            orders: Kpi {
                value: current.0,
                previous: previous.0,
            },
            items: Kpi {
                value: current.1,
                previous: previous.1,
            },
            unique_customers: Kpi {
                value: customers(1),
                previous: customers(0),
            },
        };
        let mut series = Series::default();
        let mut t = w.from - w.from % w.bucket;
        while t <= w.to {
            let (orders, items, kopecks) = by_t.get(&t).copied().unwrap_or_default();
            series.t.push(t);
            series.orders.push(orders);
            series.items.push(items);
            series.revenue.push(rubles(kopecks));
            t += w.bucket;
        }
        let mut revenue_by_category: Vec<CategoryRevenue> = by_category
            .into_iter()
            .map(|(category, (orders, _, kopecks))| CategoryRevenue {
                category: category.to_string(),
                revenue: rubles(kopecks),
                orders,
            })
            .collect();
        // By revenue, highest first; ties by name.
        revenue_by_category.sort_by(|a, b| {
            b.revenue
                .total_cmp(&a.revenue)
                .then_with(|| a.category.cmp(&b.category))
        });
        Ok(Overview {
            range,
            bucket_seconds: w.bucket,
            from: w.from,
            to: w.to,
            kpis,
            series,
            revenue_by_category,
            movement_mix,
            stock_levels,
        })
    }

    /// Stock on hand per warehouse, or per warehouse and product.
    pub async fn stock_levels(&self, by_product: bool) -> Result<Vec<StockLevel>> {
        if by_product {
            self.rows(&STOCK_LEVELS_BY_PRODUCT, Values::new()).await
        } else {
            self.rows(&STOCK_LEVELS, Values::new()).await
        }
    }

    /// Rows and distinct event ids in a target table, and what its minute rollup counts (a
    /// full scan: for the audit, not the page).
    pub async fn table_audit(&self, table: &str) -> Result<TableAudit> {
        let (rollup, count_column) = match table {
            "sales" => ("sales_by_minute", "orders"),
            "stock_movements" => ("stock_by_minute", "events"),
            other => return Err(Error::Decode(format!("no rollup for table {other}"))),
        };
        self.rows(
            &AUDIT_TABLE,
            Values::new()
                .ident("table", table)
                .ident("rollup", rollup)
                .ident("count_column", count_column),
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Decode("no audit row".into()))
    }

    /// Which of `ids` (UUIDs from our own generator) are in `table` already.
    pub async fn landed_event_ids(&self, table: &str, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = ids.iter().map(|id| quote(id)).collect();
        let rows = self
            .rows(
                &LANDED_EVENT_IDS,
                Values::new()
                    .ident("table", table)
                    .sql("ids", list.join(",")),
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.event_id).collect())
    }
}

/// Revenue per order in whole kopecks, halves rounded up: 10.15 over 2 orders is 5.08.
fn avg_ticket(revenue: f64, orders: u64) -> f64 {
    if orders == 0 {
        return 0.0;
    }
    let cents = (revenue * 100.0).round() as i64;
    ((cents * 2 + orders as i64) / (2 * orders as i64)) as f64 / 100.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn average_ticket_rounds_half_up_in_kopecks() {
        assert_eq!(super::avg_ticket(10.15, 2), 5.08);
        assert_eq!(super::avg_ticket(10.0, 3), 3.33);
        assert_eq!(super::avg_ticket(0.0, 0), 0.0);
    }

    #[test]
    fn a_preview_is_at_most_200_characters_of_text() {
        let raw = b"<img src=x onerror=alert(1)>\t\xff\xfe</script>";
        assert_eq!(
            super::preview(raw),
            "<img src=x onerror=alert(1)>\\t\u{fffd}\u{fffd}</script>"
        );
        assert_eq!(
            super::preview("\u{44f}".repeat(300).as_bytes())
                .chars()
                .count(),
            200
        );
        assert_eq!(super::unhex("41FF00"), vec![0x41, 0xff, 0x00]);
    }
}
