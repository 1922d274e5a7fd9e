-- Corrections the rollup check (crates/reconcile/src/rollups.rs) wrote: per rollup key, what
-- the rollup lacked (positive) or held too much of (negative) against one copy of each event
-- in the raw tables. A Kafka block's fan-out is one insert per view, not one transaction: a
-- server killed between them leaves the block in some targets and not in others, and the
-- engine then delivers it to all of them again. Each table's view (sql/ingest/*corrections*)
-- adds its rows to the rollup in the same INSERT; the rows stay here as the record of what
-- was corrected and when.
CREATE TABLE IF NOT EXISTS {{db}}.sales_by_minute_corrections
(
    corrected_at DateTime DEFAULT now(),
    minute       DateTime,
    category     String,
    product_id   UInt32,
    orders       Int64,
    items        Int64,
    revenue      Decimal(18, 2),
    -- The customers of the key's events: a uniqExact state only ever gains members, so
    -- merging the full set again is harmless and restores any the rollup lacked.
    customers    AggregateFunction(uniqExact, String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, category, product_id);

CREATE TABLE IF NOT EXISTS {{db}}.stock_by_minute_corrections
(
    corrected_at  DateTime DEFAULT now(),
    minute        DateTime,
    warehouse     String,
    product_id    UInt32,
    product_name  String,
    movement_type String,
    events        Int64,
    quantity      Int64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, warehouse, product_id, product_name, movement_type);

-- stock_levels has no time to check by minute; it is checked against stock_by_minute's
-- all-time sums instead.
CREATE TABLE IF NOT EXISTS {{db}}.stock_levels_corrections
(
    corrected_at DateTime DEFAULT now(),
    warehouse    String,
    product_id   UInt32,
    product_name String,
    supplied     Int64,
    relocated    Int64,
    written_off  Int64
)
ENGINE = MergeTree
ORDER BY (corrected_at, warehouse, product_id);
