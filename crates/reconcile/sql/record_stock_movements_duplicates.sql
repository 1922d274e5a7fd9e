-- As record_sales_duplicates.sql, for stock_movements.
INSERT INTO {{db}}.stock_movements_duplicates
    (event_id, event_time, product_id, product_name, warehouse, movement_type, quantity, copies_removed)
SELECT event_id, first_event_time, first_product_id, first_product_name, first_warehouse, first_movement_type, first_quantity, extra - removed
FROM
(
    SELECT event_id, any(event_time) AS first_event_time, any(product_id) AS first_product_id,
           any(product_name) AS first_product_name, any(warehouse) AS first_warehouse,
           any(movement_type) AS first_movement_type, any(quantity) AS first_quantity,
           toInt64(count() - 1) AS extra
    FROM {{read_db}}.stock_movements
    WHERE event_time >= toDateTime({{lo}}) AND event_time <= toDateTime({{hi}})
    GROUP BY event_id
    HAVING count() > 1
) AS copies
ANY LEFT JOIN
(
    SELECT event_id, sum(copies_removed) AS removed
    FROM {{read_db}}.stock_movements_duplicates
    WHERE event_time >= toDateTime({{lo}}) AND event_time <= toDateTime({{hi}})
    GROUP BY event_id
) AS recorded USING event_id
WHERE extra > removed
