-- Feeds the stock_by_minute rollup (source chosen as in sales_by_minute_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.stock_by_minute_mv TO {{db}}.stock_by_minute AS
SELECT
-- @if cascading_views
    toStartOfMinute(event_time)                          AS minute,
-- @else
    toStartOfMinute(parseDateTimeBestEffort(event_time)) AS minute,
-- @endif
    warehouse,
    product_id,
    product_name,
    movement_type,
    countState()       AS events,
    sumState(quantity) AS quantity
-- @if cascading_views
FROM {{db}}.stock_movements
-- @else
FROM {{db}}.warehouse_kafka
-- @endif
GROUP BY minute, warehouse, product_id, product_name, movement_type;
