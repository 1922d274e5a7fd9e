-- As correct_sales_by_minute.sql, for stock_by_minute against stock_movements.
INSERT INTO {{db}}.stock_by_minute_corrections
    (minute, warehouse, product_id, product_name, movement_type, events, quantity)
SELECT minute, warehouse, product_id, product_name, movement_type,
       sum(d_events) AS events, sum(d_quantity) AS quantity
FROM
(
    SELECT toStartOfMinute(e_event_time) AS minute, e_warehouse AS warehouse,
           e_product_id AS product_id, e_product_name AS product_name,
           e_movement_type AS movement_type, toInt64(1) AS d_events,
           toInt64(e_quantity) AS d_quantity
    FROM
    (
        SELECT event_id, any(event_time) AS e_event_time, any(warehouse) AS e_warehouse,
               any(product_id) AS e_product_id, any(product_name) AS e_product_name,
               any(movement_type) AS e_movement_type, any(quantity) AS e_quantity
        FROM {{read_db}}.stock_movements
        WHERE event_time >= toDateTime({{lo}}) AND event_time < toDateTime({{hi}})
          AND toUInt32(toStartOfMinute(event_time)) IN ({{minutes}})
        GROUP BY event_id
    )
    UNION ALL
    SELECT minute, warehouse, product_id, product_name, movement_type,
           -sumMerge(events) AS d_events, -sumMerge(quantity) AS d_quantity
    FROM {{read_db}}.stock_by_minute
    WHERE minute >= toDateTime({{lo}}) AND minute < toDateTime({{hi}})
      AND toUInt32(minute) IN ({{minutes}})
    GROUP BY minute, warehouse, product_id, product_name, movement_type
)
GROUP BY minute, warehouse, product_id, product_name, movement_type
HAVING events != 0 OR quantity != 0
