-- Overview tiles: the chosen period and the one of equal length just before it.
SELECT
    minute >= toDateTime({{from}})        AS current,
    toUInt64(sumMerge(orders))          AS orders,
    toUInt64(sumMerge(items))             AS items,
    toFloat64(sumMerge(revenue))          AS revenue,
    toUInt64(uniqExactMerge(customers))   AS unique_customers
FROM {{db}}.sales_by_minute
WHERE minute >= toDateTime({{previous_from}})
GROUP BY current
