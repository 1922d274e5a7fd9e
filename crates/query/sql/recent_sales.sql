-- /api/recent_sales: the last 10 sales. Only the recent end of the raw table is read: from
-- the newest minutes of the rollup that together hold at least 10 orders (at most the last
-- hour), so the cost follows ten sales, not the event rate. (The inner query keeps
-- event_time a DateTime: an alias would shadow the column in WHERE.) A copy the Kafka
-- engine delivered twice is shown once.
SELECT product_id, product_name, quantity, toFloat64(price) AS price, toString(t) AS event_time
FROM
(
    SELECT product_id, product_name, quantity, price, event_time AS t, event_id
    FROM {{db}}.sales
    WHERE event_time >= (
        SELECT if(reached = 0, arrayElement(minutes, -1), arrayElement(minutes, reached))
        FROM
        (
            SELECT
                groupArray(minute) AS minutes,
                arrayFirstIndex(n -> n >= 10, arrayCumSum(groupArray(orders))) AS reached
            FROM
            (
                SELECT minute, sumMerge(orders) AS orders
                FROM {{db}}.sales_by_minute
-- @if distributed
                WHERE minute >= (SELECT max(minute) FROM {{db}}.sales_by_minute) - 3600
-- @else
                -- The newest minute from part metadata (the partition key's range), not a
                -- scan of every minute there is.
                WHERE minute >= (SELECT max(max_time) FROM system.parts
                                 WHERE database = {{db:string}} AND table = 'sales_by_minute'
                                   AND active) - 3600
-- @endif
                GROUP BY minute
                ORDER BY minute DESC
            )
        )
    )
    ORDER BY event_time DESC, event_id
    LIMIT 1 BY event_id
    LIMIT 10
)
ORDER BY t DESC, event_id
