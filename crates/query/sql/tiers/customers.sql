-- Customers from {{since}} on, as rows (at, customers) of uniqCombined(13) states: sealed
-- hours from customers_by_hour, other sealed minutes from customers_by_minute, and what is
-- newer than the last sealed minute from the raw sales. States only add members, so a
-- minute read twice costs time, never correctness; a gap would, and there is none.
SELECT hour AS at, customers
FROM {{db}}.customers_by_hour
WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599)
  AND hour < (SELECT max(hour) + 3600 FROM {{db}}.customers_by_hour
              WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
  AND hour != toStartOfHour(toDateTime({{split}}))
UNION ALL
SELECT minute AS at, customers
FROM {{db}}.customers_by_minute
WHERE minute >= toDateTime({{since}})
  AND (minute < toStartOfHour(toDateTime({{since}}) + 3599)
       OR minute >= (SELECT max(hour) + 3600 FROM {{db}}.customers_by_hour
                     WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
       OR toStartOfHour(minute) = toStartOfHour(toDateTime({{split}})))
UNION ALL
SELECT toStartOfMinute(event_time) AS at, uniqCombinedState(13)(customer_id) AS customers
FROM {{db}}.sales
WHERE event_time >= greatest(toDateTime({{since}}),
                             (SELECT max(minute) + 60 FROM {{db}}.customers_by_minute
                              WHERE minute >= toDateTime({{since}})))
GROUP BY at
