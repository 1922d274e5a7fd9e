-- The original demo's /api/sales on the raw table (docs/contract.md): per hour over the last
-- 24 hours, items sold and revenue = sum(total).
SELECT
    toStartOfHour(event_time) AS hour,
    sum(quantity)             AS quantity,
    sum(total)                AS revenue
FROM {{db}}.sales
WHERE event_time >= now() - INTERVAL 24 HOUR
GROUP BY hour
ORDER BY hour
