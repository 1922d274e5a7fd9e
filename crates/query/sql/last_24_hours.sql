-- The starts of the last 24 hours in the server's time zone, oldest first, and their
-- "HH:MM" labels in its local time.
SELECT
    arrayMap(i -> toUInt32(toStartOfHour(now()) - (23 - i) * 3600), range(24)) AS t,
    arrayMap(x -> substring(toString(toDateTime(x)), 12, 5), t) AS labels
