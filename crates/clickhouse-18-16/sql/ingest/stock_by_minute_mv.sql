-- Feeds stock_by_minute from each source (no cascade on 18.16: see sales_by_minute_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_by_minute AS
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
GROUP BY minute, warehouse, product_id, product_name, movement_type;
