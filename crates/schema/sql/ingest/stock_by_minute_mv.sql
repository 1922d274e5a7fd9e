-- Feeds stock_by_minute (source chosen as in sales_by_minute_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_by_minute AS
-- @if cascading_views
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    sumState(toInt64(1))        AS events,
    sumState(toInt64(quantity)) AS quantity
FROM {{db}}.stock_movements
-- @else
{{with}}
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    toUInt32(product_id_value)  AS product_id,
    product_name,
    movement_type,
    sumState(toInt64(1))        AS events,
    sumState(quantity_value)    AS quantity
FROM {{from}}
WHERE reject_reason = ''
-- @endif
GROUP BY minute, warehouse, product_id, product_name, movement_type;
