-- A rollup correction (crates/reconcile/src/rollups.rs) goes into sales_by_minute.
CREATE MATERIALIZED VIEW {{db}}.sales_corrections_mv TO {{db}}.sales_by_minute AS
SELECT
    minute,
    category,
    product_id,
    sumState(orders)              AS orders,
    sumState(items)               AS items,
    sumState(revenue)             AS revenue,
    uniqExactMergeState(customers) AS customers
FROM {{db}}.sales_by_minute_corrections
GROUP BY minute, category, product_id;
