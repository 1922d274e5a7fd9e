-- Compares sales_by_minute with one copy of each event in sales, per key, for the given
-- minutes, and writes the difference as a correction (its view adds it to the rollup in the
-- same INSERT). Nothing is written where they agree, so re-running it is harmless once the
-- tables are still. The raw side reads [lo, hi) by the table's ORDER BY (event_time).
INSERT INTO {{db}}.sales_by_minute_corrections
    (minute, category, product_id, orders, items, revenue, customers)
SELECT minute, category, product_id,
       sum(d_orders) AS orders, sum(d_items) AS items, sum(d_revenue) AS revenue,
       uniqExactStateIf(customer_id, from_raw = 1) AS customers
FROM
(
    SELECT toStartOfMinute(e_event_time) AS minute, e_category AS category,
           e_product_id AS product_id, toInt64(1) AS d_orders, toInt64(e_quantity) AS d_items,
           toDecimal128(e_total, 2) AS d_revenue, e_customer_id AS customer_id,
           toUInt8(1) AS from_raw
    FROM
    (
        SELECT event_id, any(event_time) AS e_event_time, any(category) AS e_category,
               any(product_id) AS e_product_id, any(quantity) AS e_quantity, any(total) AS e_total,
               any(customer_id) AS e_customer_id
        FROM {{read_db}}.sales
        WHERE event_time >= toDateTime({{lo}}) AND event_time < toDateTime({{hi}})
          AND toUInt32(toStartOfMinute(event_time)) IN ({{minutes}})
        GROUP BY event_id
    )
    UNION ALL
    SELECT minute, category, product_id,
           -sumMerge(orders) AS d_orders, -sumMerge(items) AS d_items,
           -toDecimal128(sumMerge(revenue), 2) AS d_revenue, '' AS customer_id,
           toUInt8(0) AS from_raw
    FROM {{read_db}}.sales_by_minute
    WHERE minute >= toDateTime({{lo}}) AND minute < toDateTime({{hi}})
      AND toUInt32(minute) IN ({{minutes}})
    GROUP BY minute, category, product_id
)
GROUP BY minute, category, product_id
HAVING orders != 0 OR items != 0 OR revenue != 0
