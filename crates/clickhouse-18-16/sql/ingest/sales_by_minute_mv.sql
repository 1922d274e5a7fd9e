-- Feeds the sales_by_minute rollup. 18.16 does not cascade into a view's target, so one of
-- these reads each source (the Kafka table, the rescue's replay table) and repeats
-- sales_mv's rules.
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.sales_by_minute AS
{{with}}
SELECT
    toStartOfMinute(event_time)     AS minute,
    category,
    toUInt32(product_id_value)      AS product_id,
    sumState(toInt64(1))            AS orders,
    sumState(quantity_value)        AS items,
    sumState(toDecimal64(toString(round(total_value, 2)), 2)) AS revenue,
    uniqExactState(customer_id)     AS customers
FROM {{from}}
WHERE reject_reason = ''
GROUP BY minute, category, product_id;
