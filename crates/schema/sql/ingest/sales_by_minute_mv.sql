-- Feeds the sales_by_minute rollup from the sales table (views cascade: a row inserted
-- into sales by sales_mv reaches this view too).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.sales_by_minute AS
SELECT
    toStartOfMinute(event_time)     AS minute,
    category,
    product_id,
    sumState(toInt64(1))            AS orders,
    sumState(toInt64(quantity))     AS items,
    sumState(toDecimal64(total, 2)) AS revenue,
    uniqExactState(customer_id)     AS customers
FROM {{db}}.sales
GROUP BY minute, category, product_id;
