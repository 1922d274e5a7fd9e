-- Customers from {{since}} on, as rows (at, customers) of uniqCombined(13) states: the
-- sealed tiers (customers_by_hour, customers_by_minute, read by read.sql, below), and the
-- raw sales from the newest two sealed minutes on: a minute quiet for a moment is sealed
-- before it is over and again once it is, so those two may be partial. States only add
-- members, so a minute read twice costs time, never correctness; a gap would, and there is
-- none.
{{sealed}}
UNION ALL
SELECT toStartOfMinute(event_time) AS at, uniqCombinedState(13)(customer_id) AS customers
FROM {{db}}.sales
WHERE event_time >= greatest(toDateTime({{since}}),
                             (SELECT toDateTime(greatest(toUInt32(max(minute)), 60) - 60)
                              FROM {{db}}.customers_by_minute
                              WHERE minute >= toDateTime({{since}})))
GROUP BY at
