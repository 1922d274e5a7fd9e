-- Stock on hand per warehouse and product.
SELECT warehouse, product_id, product_name, s AS supplied, r AS relocated, w AS written_off,
       toInt64(s) - toInt64(r) - toInt64(w) AS level
FROM
(
    SELECT warehouse, product_id, any(product_name) AS product_name,
           toUInt64(sum(supplied)) AS s, toUInt64(sum(relocated)) AS r, toUInt64(sum(written_off)) AS w
    FROM {{db}}.stock_levels
    GROUP BY warehouse, product_id
)
ORDER BY warehouse, product_id
