SELECT
    movement_type,
    toUInt64(sumMerge(events))    AS events,
    toUInt64(sumMerge(quantity))  AS quantity
FROM ({{stock}})
GROUP BY movement_type
ORDER BY movement_type
