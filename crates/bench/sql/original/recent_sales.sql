-- The original demo's /api/recent_sales on the raw table (docs/contract.md): the last 10 sales.
SELECT product_id, quantity, price, event_time
FROM {{db}}.sales
ORDER BY event_time DESC
LIMIT 10
