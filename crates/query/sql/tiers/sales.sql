-- The sales rollup from {{since}} on, as rows (at, category, product_id, orders, items,
-- revenue) of sum states: an hour the reconcile loop has sealed into sales_by_hour is read
-- from there, every other minute from sales_by_minute (where nothing seals, all of it). No
-- hour that {{split}} cuts (a period boundary the caller groups by) is read whole.
SELECT hour AS at, category, product_id, orders, items, revenue
FROM {{db}}.sales_by_hour
WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599)
  AND hour < (SELECT max(hour) + 3600 FROM {{db}}.sales_by_hour
              WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
  AND hour != toStartOfHour(toDateTime({{split}}))
UNION ALL
SELECT minute AS at, category, product_id, orders, items, revenue
FROM {{db}}.sales_by_minute
WHERE minute >= toDateTime({{since}})
  AND (minute < toStartOfHour(toDateTime({{since}}) + 3599)
       OR minute >= (SELECT max(hour) + 3600 FROM {{db}}.sales_by_hour
                     WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
       OR toStartOfHour(minute) = toStartOfHour(toDateTime({{split}})))
