-- Seals whole hours of stock_by_minute into stock_by_hour, writing only the difference (as
-- seal_sales_by_hour.sql does).
INSERT INTO {{db}}.stock_by_hour (hour, product_id, product_name, movement_type, events, quantity)
SELECT hour, product_id, product_name, movement_type,
       sumState(d_events) AS events, sumState(d_quantity) AS quantity
FROM
(
    SELECT toStartOfHour(minute) AS hour, product_id, product_name, movement_type,
           sumMerge(events) AS d_events, sumMerge(quantity) AS d_quantity
    FROM {{db}}.stock_by_minute
    WHERE minute >= toDateTime({{lo}}) AND minute < toDateTime({{hi}})
      AND toUInt32(toStartOfHour(minute)) IN ({{hours}})
    GROUP BY hour, product_id, product_name, movement_type
    UNION ALL
    SELECT hour, product_id, product_name, movement_type,
           -sumMerge(events) AS d_events, -sumMerge(quantity) AS d_quantity
    FROM {{db}}.stock_by_hour
    WHERE hour >= toDateTime({{lo}}) AND hour < toDateTime({{hi}})
      AND toUInt32(hour) IN ({{hours}})
    GROUP BY hour, product_id, product_name, movement_type
)
GROUP BY hour, product_id, product_name, movement_type
HAVING sum(d_events) != 0 OR sum(d_quantity) != 0
