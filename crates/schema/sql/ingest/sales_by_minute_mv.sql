-- Feeds the sales_by_minute rollup. Where views cascade (current servers) it reads the
-- sales table; 18.16 does not cascade into a view's target, so there it reads the Kafka
-- table directly and repeats sales_mv's conversions.
CREATE MATERIALIZED VIEW {{db}}.sales_by_minute_mv TO {{db}}.sales_by_minute AS
SELECT
-- @if cascading_views
    toStartOfMinute(event_time)                           AS minute,
-- @else
    toStartOfMinute(parseDateTimeBestEffort(event_time))  AS minute,
-- @endif
    category,
    product_id,
    countState()                AS orders,
    sumState(quantity)          AS items,
-- @if cascading_views
    sumState(total)             AS revenue,
-- @else
    sumState(toDecimal32(toString(total), 2)) AS revenue,
-- @endif
    uniqExactState(customer_id) AS customers
-- @if cascading_views
FROM {{db}}.sales
-- @else
FROM {{db}}.sales_kafka
-- @endif
GROUP BY minute, category, product_id;
