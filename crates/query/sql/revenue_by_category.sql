SELECT
    category,
    toFloat64(sumMerge(revenue)) AS revenue,
    toUInt64(sumMerge(orders)) AS orders
FROM {{db}}.sales_by_minute
WHERE minute >= toDateTime({{from}})
GROUP BY category
ORDER BY revenue DESC, category
