-- The overview's sales figures in one pass over the tiers: the chosen period per bucket and
-- category (the tiles, the chart and the categories all add these up), and the period of
-- equal length before it as one row (the tiles' "previous"). Revenue in whole kopecks, so
-- adding rows up stays exact. (Aliases differ from column names: an alias would shadow the
-- column it is computed from.)
SELECT
    at >= toDateTime({{from}})                                AS current,
    if(current, toUInt32({{bucket}}(at)), toUInt32(0))        AS t,
    if(current, category, '')                                 AS category_name,
    toUInt64(sumMerge(orders))                                AS orders,
    toUInt64(sumMerge(items))                                 AS items,
    toInt64(sumMerge(revenue) * 100)                          AS kopecks
FROM ({{sales}})
GROUP BY current, t, category_name
