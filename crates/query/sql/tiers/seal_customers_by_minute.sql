-- Seals checked minutes' customers: one state per minute, from every copy of every sale (a
-- state only gains members, so copies and sealing again do no harm). Reads [lo, hi) by the
-- table's ORDER BY (event_time).
INSERT INTO {{db}}.customers_by_minute (minute, customers)
SELECT toStartOfMinute(event_time) AS minute, uniqCombinedState(13)(customer_id)
FROM {{db}}.sales
WHERE event_time >= toDateTime({{lo}}) AND event_time < toDateTime({{hi}})
  AND toUInt32(toStartOfMinute(event_time)) IN ({{minutes}})
GROUP BY minute
