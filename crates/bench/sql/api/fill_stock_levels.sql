-- The stock_levels rollup from the bench's stock_movements rows with event_time in
-- [{{from}}, {{to}}): migration 0004's back-fill, one time window at a time (SummingMergeTree
-- adds the windows' rows up as parts merge, as it does the ingest view's blocks).
INSERT INTO {{db}}.stock_levels
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', toInt64(quantity), toInt64(0))),
    sum(if(movement_type = 'relocation', toInt64(quantity), toInt64(0))),
    sum(if(movement_type = 'write_off', toInt64(quantity), toInt64(0)))
FROM
(
    SELECT * FROM {{db}}.stock_movements
    WHERE event_time >= toDateTime({{from}}) AND event_time < toDateTime({{to}})
    LIMIT 1 BY event_id
)
GROUP BY warehouse, product_id, product_name
