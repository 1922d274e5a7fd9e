-- The unique customers tile, for the chosen period and the one before it (an estimate
-- within about 1 % above a few hundred; see migration 0006).
SELECT
    at >= toDateTime({{from}})                        AS current,
    toUInt64(uniqCombinedMerge(13)(customers))        AS unique_customers
FROM ({{customers}})
GROUP BY current
