-- /api/recent_sales: the last 10 sales. The newest minute comes from the small rollup so
-- only the recent end of the raw table is read. (The inner query keeps event_time a
-- DateTime: an alias would shadow the column in WHERE.) A copy the Kafka engine delivered
-- twice is shown once.
SELECT product_id, quantity, toFloat64(price) AS price, toString(t) AS event_time
FROM
(
    SELECT product_id, quantity, price, event_time AS t, event_id
    FROM {{db}}.sales
    WHERE event_time >= (SELECT max(minute) FROM {{db}}.sales_by_minute) - 3600
    ORDER BY event_time DESC, event_id
    LIMIT 1 BY event_id
    LIMIT 10
)
ORDER BY t DESC, event_id
