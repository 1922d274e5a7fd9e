-- The stock movements rollup from {{since}} on, as rows (at, product_id, product_name,
-- movement_type, events, quantity) of sum states, from stock_by_hour and stock_by_minute
-- as tiers/sales.sql reads its two tables.
SELECT hour AS at, product_id, product_name, movement_type, events, quantity
FROM {{db}}.stock_by_hour
WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599)
  AND hour < (SELECT max(hour) + 3600 FROM {{db}}.stock_by_hour
              WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
  AND hour != toStartOfHour(toDateTime({{split}}))
UNION ALL
SELECT minute AS at, product_id, product_name, movement_type, events, quantity
FROM {{db}}.stock_by_minute
WHERE minute >= toDateTime({{since}})
  AND (minute < toStartOfHour(toDateTime({{since}}) + 3599)
       OR minute >= (SELECT max(hour) + 3600 FROM {{db}}.stock_by_hour
                     WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
       OR toStartOfHour(minute) = toStartOfHour(toDateTime({{split}})))
