SELECT
    category,
    toFloat64(sumMerge(revenue)) AS revenue,
    toUInt64(sumMerge(orders)) AS orders
FROM ({{sales}})
GROUP BY category
ORDER BY revenue DESC, category
