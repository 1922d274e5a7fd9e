-- Feeds stock_by_minute from stock_movements (views cascade, as in sales_by_minute_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_by_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    sumState(toInt64(1))        AS events,
    sumState(toInt64(quantity)) AS quantity
FROM {{db}}.stock_movements
GROUP BY minute, warehouse, product_id, product_name, movement_type;
