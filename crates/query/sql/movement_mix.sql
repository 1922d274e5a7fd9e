SELECT
    movement_type,
    toUInt64(sumMerge(events))  AS events,
    toUInt64(sumMerge(quantity))  AS quantity
FROM {{db}}.stock_by_minute
WHERE minute >= toDateTime({{from}})
GROUP BY movement_type
ORDER BY movement_type
