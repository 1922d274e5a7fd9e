-- Seals whole hours' customers from their minutes' states (a union: sealing again is
-- harmless).
INSERT INTO {{db}}.customers_by_hour (hour, customers)
SELECT toStartOfHour(minute) AS hour, uniqCombinedMergeState(13)(customers)
FROM {{db}}.customers_by_minute
WHERE minute >= toDateTime({{lo}}) AND minute < toDateTime({{hi}})
  AND toUInt32(toStartOfHour(minute)) IN ({{hours}})
GROUP BY hour
