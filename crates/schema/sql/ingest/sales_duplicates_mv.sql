-- A recorded duplicate (crates/reconcile) takes its extra copies back out of the rollup.
-- A direct insert fires its views on every version.
CREATE MATERIALIZED VIEW {{db}}.sales_duplicates_mv TO {{db}}.sales_by_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    category,
    product_id,
    sumState(-copies_removed)                                            AS orders,
    sumState(-copies_removed * toInt64(quantity))                        AS items,
    sumState(toDecimal64(total, 2) * toDecimal64(-copies_removed, 0))    AS revenue,
    uniqExactStateIf(event_id, 0)                                        AS customers
FROM {{db}}.sales_duplicates
GROUP BY minute, category, product_id;
