-- Seals whole hours: per key, what the hour's minutes in sales_by_minute add up to minus
-- what sales_by_hour holds already. Only a difference is written, so the first seal writes
-- the hour, a later one what changed below since (a late event, a duplicate taken out, a
-- correction), and one over still tables writes nothing.
INSERT INTO {{db}}.sales_by_hour (hour, category, product_id, orders, items, revenue)
SELECT hour, category, product_id,
       sumState(d_orders) AS orders, sumState(d_items) AS items,
       sumState(toDecimal64(d_revenue, 2)) AS revenue
FROM
(
    SELECT toStartOfHour(minute) AS hour, category, product_id,
           sumMerge(orders) AS d_orders, sumMerge(items) AS d_items,
           toDecimal128(sumMerge(revenue), 2) AS d_revenue
    FROM {{db}}.sales_by_minute
    WHERE minute >= toDateTime({{lo}}) AND minute < toDateTime({{hi}})
      AND toUInt32(toStartOfHour(minute)) IN ({{hours}})
    GROUP BY hour, category, product_id
    UNION ALL
    SELECT hour, category, product_id,
           -sumMerge(orders) AS d_orders, -sumMerge(items) AS d_items,
           -toDecimal128(sumMerge(revenue), 2) AS d_revenue
    FROM {{db}}.sales_by_hour
    WHERE hour >= toDateTime({{lo}}) AND hour < toDateTime({{hi}})
      AND toUInt32(hour) IN ({{hours}})
    GROUP BY hour, category, product_id
)
GROUP BY hour, category, product_id
HAVING sum(d_orders) != 0 OR sum(d_items) != 0 OR sum(d_revenue) != 0
