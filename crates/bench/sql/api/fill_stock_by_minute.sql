-- The stock_by_minute rollup from the bench's stock_movements rows with event_time in
-- [{{from}}, {{to}}): migration 0004's back-fill, one time window at a time.
INSERT INTO {{db}}.stock_by_minute
SELECT
    toStartOfMinute(event_time) AS minute,
    warehouse,
    product_id,
    product_name,
    movement_type,
    sumState(toInt64(1)),
    sumState(toInt64(quantity))
FROM
(
    SELECT * FROM {{db}}.stock_movements
    WHERE event_time >= toDateTime({{from}}) AND event_time < toDateTime({{to}})
    LIMIT 1 BY event_id
)
GROUP BY minute, warehouse, product_id, product_name, movement_type
