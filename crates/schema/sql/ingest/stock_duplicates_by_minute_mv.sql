-- Recorded duplicate warehouse events leave stock_by_minute (see sales_duplicates_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.stock_duplicates_by_minute_mv TO {{db}}.stock_by_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    sumState(-copies_removed)                     AS events,
    sumState(-copies_removed * toInt64(quantity)) AS quantity
FROM {{db}}.stock_movements_duplicates
GROUP BY minute, warehouse, product_id, product_name, movement_type;
