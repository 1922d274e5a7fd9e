-- Overview tiles: the chosen period and the one of equal length just before it.
SELECT
    at >= toDateTime({{from}})          AS current,
    toUInt64(sumMerge(orders))          AS orders,
    toUInt64(sumMerge(items))           AS items,
    toFloat64(sumMerge(revenue))        AS revenue
FROM ({{sales}})
GROUP BY current
