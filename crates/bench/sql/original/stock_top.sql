-- The original demo's /api/stock on the raw table (docs/contract.md): the 5 products that moved
-- most over the last 7 days; incoming = supply, outgoing = relocation + write_off.
SELECT
    product_name,
    sumIf(quantity, movement_type = 'supply')                          AS incoming,
    sumIf(quantity, movement_type IN ('relocation', 'write_off'))      AS outgoing
FROM {{db}}.stock_movements
WHERE event_time >= now() - INTERVAL 7 DAY
GROUP BY product_name
ORDER BY incoming + outgoing DESC
LIMIT 5
