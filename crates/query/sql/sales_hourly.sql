-- /api/sales: items and revenue per hour over the last 24 hours (the original's chart).
SELECT
    toUInt32(toStartOfHour(at))     AS t,
    toUInt64(sumMerge(items))       AS quantity,
    toFloat64(sumMerge(revenue))    AS revenue
FROM ({{sales}})
GROUP BY t
ORDER BY t
