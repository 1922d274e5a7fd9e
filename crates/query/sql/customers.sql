-- The unique customers tile, for the chosen period and the one before it (an estimate
-- exact up to 512, then within about 1 %; see migration 0006).
SELECT
    at >= toDateTime({{from}})                        AS current,
    toUInt64(uniqCombinedMerge(13)(customers))        AS unique_customers
FROM ({{customers}})
GROUP BY current
