-- /api/stock: the 5 products that moved most over the last 7 days; incoming = supply,
-- outgoing = relocation + write-off (the original's definition).
SELECT
    product_name,
    toUInt64(sumIf(qty, movement_type = 'supply'))  AS incoming,
    toUInt64(sumIf(qty, movement_type != 'supply')) AS outgoing
FROM
(
    SELECT product_id, product_name, movement_type, sumMerge(quantity) AS qty
    FROM ({{stock}})
    GROUP BY product_id, product_name, movement_type
)
GROUP BY product_id, product_name
ORDER BY incoming + outgoing DESC, product_id
LIMIT 5
