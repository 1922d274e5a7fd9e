-- Per-minute rollups the dashboard reads, so a query's cost depends on its time range and
-- not on how many events exist. Fed by views on the target tables (a cascade: Kafka table →
-- sales_mv → sales → sales_by_minute_mv → sales_by_minute) and back-filled from the rows
-- already there. Ingest views are dropped while migrations run, so nothing lands twice.
CREATE TABLE IF NOT EXISTS {{db}}.sales_by_minute
(
    minute     DateTime,
    category   String,
    product_id UInt32,
    orders     AggregateFunction(count),
    items      AggregateFunction(sum, UInt32),
    revenue    AggregateFunction(sum, Decimal(9, 2)),
    customers  AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, category, product_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.sales_by_minute_mv TO {{db}}.sales_by_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    category,
    product_id,
    countState()                AS orders,
    sumState(quantity)          AS items,
    sumState(total)             AS revenue,
    uniqExactState(customer_id) AS customers
FROM {{db}}.sales
GROUP BY minute, category, product_id;

INSERT INTO {{db}}.sales_by_minute
SELECT
    toStartOfMinute(event_time) AS minute,
    category,
    product_id,
    countState(),
    sumState(quantity),
    sumState(total),
    uniqExactState(customer_id)
FROM {{db}}.sales
GROUP BY minute, category, product_id;

CREATE TABLE IF NOT EXISTS {{db}}.stock_by_minute
(
    minute        DateTime,
    warehouse     String,
    product_id    UInt32,
    product_name  String,
    movement_type String,
    events        AggregateFunction(count),
    quantity      AggregateFunction(sum, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, warehouse, product_id, product_name, movement_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.stock_by_minute_mv TO {{db}}.stock_by_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    countState()       AS events,
    sumState(quantity) AS quantity
FROM {{db}}.stock_movements
GROUP BY minute, warehouse, product_id, product_name, movement_type;

INSERT INTO {{db}}.stock_by_minute
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    countState(),
    sumState(quantity)
FROM {{db}}.stock_movements
GROUP BY minute, warehouse, product_id, product_name, movement_type;
