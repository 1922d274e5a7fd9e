-- A rollup from {{since}} on, read from two tiers as rows (at, {{columns}}): each hour the
-- reconcile loop has sealed into {{hours}} comes from there, every other minute from
-- {{minutes}} (where nothing seals, all of it). No hour that {{split}} cuts (a period
-- boundary the caller groups by) is read whole. Sealed hours end at the newest one: the
-- sealer goes in order, so every hour before it is sealed.
SELECT hour AS at, {{columns}}
FROM {{db}}.{{hours}}
WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599)
  AND hour < (SELECT max(hour) + 3600 FROM {{db}}.{{hours}}
              WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
  AND hour != toStartOfHour(toDateTime({{split}}))
UNION ALL
SELECT minute AS at, {{columns}}
FROM {{db}}.{{minutes}}
WHERE minute >= toDateTime({{since}})
  AND (minute < toStartOfHour(toDateTime({{since}}) + 3599)
       OR minute >= (SELECT max(hour) + 3600 FROM {{db}}.{{hours}}
                     WHERE hour >= toStartOfHour(toDateTime({{since}}) + 3599))
       OR toStartOfHour(minute) = toStartOfHour(toDateTime({{split}})))
