-- A rollup correction (crates/reconcile/src/rollups.rs) goes into stock_by_minute.
CREATE MATERIALIZED VIEW {{db}}.stock_corrections_by_minute_mv TO {{db}}.stock_by_minute AS
SELECT
    minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    sumState(events)   AS events,
    sumState(quantity) AS quantity
FROM {{db}}.stock_by_minute_corrections
GROUP BY minute, warehouse, product_id, product_name, movement_type;
