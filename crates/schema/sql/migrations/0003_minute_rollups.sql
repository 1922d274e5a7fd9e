-- Per-minute rollups the dashboard reads, so a query's cost depends on its time range and
-- not on how many events exist. Back-filled here from the rows already there; from then on
-- fed by the ingest views in sql/ingest/*_by_minute_mv.sql and stock_levels_mv.sql. Ingest
-- views are dropped while migrations run, so nothing lands twice.
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

-- Stock on hand per warehouse and product, all time: a supply adds to the warehouse named
-- in the event; a relocation moves goods out of it (to a store or another site); a
-- write-off removes them. level = supplied − relocated − written_off. A few hundred rows.
-- SummingMergeTree adds up rows with the same key as parts merge; queries still sum().
CREATE TABLE IF NOT EXISTS {{db}}.stock_levels
(
    warehouse    String,
    product_id   UInt32,
    product_name String,
    supplied     UInt64,
    relocated    UInt64,
    written_off  UInt64
)
ENGINE = SummingMergeTree
ORDER BY (warehouse, product_id, product_name);

INSERT INTO {{db}}.stock_levels
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', toUInt64(quantity), toUInt64(0))),
    sum(if(movement_type = 'relocation', toUInt64(quantity), toUInt64(0))),
    sum(if(movement_type = 'write_off', toUInt64(quantity), toUInt64(0)))
FROM {{db}}.stock_movements
GROUP BY warehouse, product_id, product_name;
