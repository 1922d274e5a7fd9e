-- Messages that cannot become rows land here instead of stopping the stream: the raw bytes
-- as produced, why they were refused, and where they came from. offset is -1 where the
-- server's Kafka engine does not tell (18.16), partition -1 likewise.
CREATE TABLE IF NOT EXISTS {{db}}.dead_letter
(
    received_at DateTime DEFAULT now(),
    topic       String,
    partition   Int32,
    offset      Int64,
    raw         String,
    reason      String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, received_at);

-- The copies of an event the Kafka engine delivered more than once (at-least-once), found
-- by the reconcile loop (crates/reconcile). Each row is subtracted from the rollups by the
-- *_duplicates_*_mv views, so the figures count every event_id once; the raw tables keep
-- every copy for the audit. copies_removed is how many extra copies this row accounts for.
CREATE TABLE IF NOT EXISTS {{db}}.sales_duplicates
(
    event_id       String,
    event_time     DateTime,
    product_id     UInt32,
    category       String,
    quantity       UInt32,
    total          Decimal32(2),
    copies_removed Int64,
    removed_at     DateTime DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS {{db}}.stock_movements_duplicates
(
    event_id       String,
    event_time     DateTime,
    product_id     UInt32,
    product_name   String,
    warehouse      String,
    movement_type  String,
    quantity       UInt32,
    copies_removed Int64,
    removed_at     DateTime DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

-- How far the reconcile loop has looked, per table: the highest MergeTree block number whose
-- rows it has checked for duplicates.
CREATE TABLE IF NOT EXISTS {{db}}.reconcile_state
(
    table      String,
    max_block  Int64,
    updated_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY table;

-- Copies already in the raw tables are recorded now, so the rollups below (rebuilt from
-- one copy of each event) and the ledger agree from the start.
INSERT INTO {{db}}.sales_duplicates
    (event_id, event_time, product_id, category, quantity, total, copies_removed)
SELECT event_id, any(event_time), any(product_id), any(category), any(quantity), any(total),
       toInt64(count() - 1)
FROM {{db}}.sales
GROUP BY event_id
HAVING count() > 1;

INSERT INTO {{db}}.stock_movements_duplicates
    (event_id, event_time, product_id, product_name, warehouse, movement_type, quantity, copies_removed)
SELECT event_id, any(event_time), any(product_id), any(product_name), any(warehouse),
       any(movement_type), any(quantity), toInt64(count() - 1)
FROM {{db}}.stock_movements
GROUP BY event_id
HAVING count() > 1;

-- The rollups' sums become signed so a duplicate can be subtracted (a count state cannot
-- go down). They hold no data of their own: rebuilt from the raw tables, one copy each.
DROP TABLE IF EXISTS {{db}}.sales_by_minute;

CREATE TABLE {{db}}.sales_by_minute
(
    minute     DateTime,
    category   String,
    product_id UInt32,
    orders     AggregateFunction(sum, Int64),
    items      AggregateFunction(sum, Int64),
    revenue    AggregateFunction(sum, Decimal(18, 2)),
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
    sumState(toInt64(1)),
    sumState(toInt64(quantity)),
    sumState(toDecimal64(total, 2)),
    uniqExactState(customer_id)
FROM (SELECT * FROM {{db}}.sales LIMIT 1 BY event_id)
GROUP BY minute, category, product_id;

DROP TABLE IF EXISTS {{db}}.stock_by_minute;

CREATE TABLE {{db}}.stock_by_minute
(
    minute        DateTime,
    warehouse     String,
    product_id    UInt32,
    product_name  String,
    movement_type String,
    events        AggregateFunction(sum, Int64),
    quantity      AggregateFunction(sum, Int64)
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
    sumState(toInt64(1)),
    sumState(toInt64(quantity))
FROM (SELECT * FROM {{db}}.stock_movements LIMIT 1 BY event_id)
GROUP BY minute, warehouse, product_id, product_name, movement_type;

DROP TABLE IF EXISTS {{db}}.stock_levels;

CREATE TABLE {{db}}.stock_levels
(
    warehouse    String,
    product_id   UInt32,
    product_name String,
    supplied     Int64,
    relocated    Int64,
    written_off  Int64
)
ENGINE = SummingMergeTree
ORDER BY (warehouse, product_id, product_name);

INSERT INTO {{db}}.stock_levels
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', toInt64(quantity), toInt64(0))),
    sum(if(movement_type = 'relocation', toInt64(quantity), toInt64(0))),
    sum(if(movement_type = 'write_off', toInt64(quantity), toInt64(0)))
FROM (SELECT * FROM {{db}}.stock_movements LIMIT 1 BY event_id)
GROUP BY warehouse, product_id, product_name;
