-- Stock on hand (all time; rules in the schema's 0003 migration), per warehouse.
SELECT warehouse, s AS supplied, r AS relocated, w AS written_off, toInt64(s) - toInt64(r) - toInt64(w) AS level
FROM
(
    SELECT warehouse, toUInt64(sum(supplied)) AS s, toUInt64(sum(relocated)) AS r, toUInt64(sum(written_off)) AS w
    FROM {{db}}.stock_levels
    GROUP BY warehouse
)
ORDER BY warehouse
