-- Customers from {{since}} on, as rows (at, customers) of uniqCombined(13) states: the
-- sealed tiers (customers_by_hour, customers_by_minute, read by sealed.sql, below), and
-- what is newer than the last sealed minute from the raw sales. States only add members, so a minute read
-- twice costs time, never correctness; a gap would, and there is none.
{{sealed}}
UNION ALL
SELECT toStartOfMinute(event_time) AS at, uniqCombinedState(13)(customer_id) AS customers
FROM {{db}}.sales
WHERE event_time >= greatest(toDateTime({{since}}),
                             (SELECT max(minute) + 60 FROM {{db}}.customers_by_minute
                              WHERE minute >= toDateTime({{since}})))
GROUP BY at
