-- Overview chart: orders, items and revenue per bucket (a minute, or an hour for 7 days).
SELECT
    toUInt32({{bucket}}(at))      AS t,
    toUInt64(sumMerge(orders))    AS orders,
    toUInt64(sumMerge(items))     AS items,
    toFloat64(sumMerge(revenue))  AS revenue
FROM ({{sales}})
GROUP BY t
ORDER BY t
