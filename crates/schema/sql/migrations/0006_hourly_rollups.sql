-- Coarser tiers for long ranges, so the page's cost stays flat as events pile up: a week of
-- the minute rollups is half a million rows of sales and up to nine million of stock.
--
-- The reconcile loop (crates/reconcile/src/rollups.rs) fills them from the tiers below once
-- a minute or an hour is settled and checked, and fills them again whenever what is below
-- changes (a late event, a duplicate taken out, a correction). Queries read a sealed hour
-- here and every other minute from below (crates/query/sql/tiers), so they stay exact even
-- where nothing seals (no `pipeline up`): everything is then read from the minute tier.

-- Sums per hour: the hour's minute rollup rows added up. A re-seal writes only the
-- difference (signed sums), so an hour is never counted twice.
CREATE TABLE IF NOT EXISTS {{db}}.sales_by_hour
(
    hour       DateTime,
    category   String,
    product_id UInt32,
    orders     AggregateFunction(sum, Int64),
    items      AggregateFunction(sum, Int64),
    revenue    AggregateFunction(sum, Decimal(18, 2))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, category, product_id);

-- No warehouse: the page's long ranges ask per product and movement type only.
CREATE TABLE IF NOT EXISTS {{db}}.stock_by_hour
(
    hour          DateTime,
    product_id    UInt32,
    product_name  String,
    movement_type String,
    events        AggregateFunction(sum, Int64),
    quantity      AggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, product_id, product_name, movement_type);

-- Distinct customers as a HyperLogLog-based state (uniqCombined with 2^13 cells: exact up
-- to 512 customers, then within about 1 %). An exact set of a week's customers
-- (millions of ids) takes seconds to merge; these take milliseconds. One state per minute
-- and per hour, not per product: merging is what costs. A state only gains members, so
-- sealing a minute or an hour again is harmless. A state is up to 6 KB, so granules are
-- small: with the default 8192 rows, an hour's range would read a week of states.
CREATE TABLE IF NOT EXISTS {{db}}.customers_by_minute
(
    minute    DateTime,
    customers AggregateFunction(uniqCombined(13), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY minute
SETTINGS index_granularity = 64;

CREATE TABLE IF NOT EXISTS {{db}}.customers_by_hour
(
    hour      DateTime,
    customers AggregateFunction(uniqCombined(13), String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY hour
SETTINGS index_granularity = 64;

-- What is already there: every hour before the current one, every minute before the
-- current one. The sealer does the rest, and seals again what changes below later (it also
-- re-seals any hour written here that a part newer than its watermark touches).
INSERT INTO {{db}}.sales_by_hour
SELECT toStartOfHour(minute) AS hour, category, product_id,
       sumMergeState(orders), sumMergeState(items), sumMergeState(revenue)
FROM {{db}}.sales_by_minute
WHERE minute < toStartOfHour(now())
GROUP BY hour, category, product_id;

INSERT INTO {{db}}.stock_by_hour
SELECT toStartOfHour(minute) AS hour, product_id, product_name, movement_type,
       sumMergeState(events), sumMergeState(quantity)
FROM {{db}}.stock_by_minute
WHERE minute < toStartOfHour(now())
GROUP BY hour, product_id, product_name, movement_type;

INSERT INTO {{db}}.customers_by_minute
SELECT toStartOfMinute(event_time) AS minute, uniqCombinedState(13)(customer_id)
FROM {{db}}.sales
WHERE event_time < toStartOfMinute(now())
GROUP BY minute;

INSERT INTO {{db}}.customers_by_hour
SELECT toStartOfHour(minute) AS hour, uniqCombinedMergeState(13)(customers)
FROM {{db}}.customers_by_minute
WHERE minute < toStartOfHour(now())
GROUP BY hour;
