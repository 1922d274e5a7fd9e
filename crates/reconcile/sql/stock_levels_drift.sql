-- Where stock_levels differs from stock_by_minute's all-time sums, per key: what
-- stock_levels lacks (positive) or holds too much of (negative). stock_levels is fed by its
-- own view of each block, so a fan-out cut short can leave it apart from stock_by_minute,
-- which the minute check keeps equal to the raw table. A block in flight between the two
-- shows here for a moment too; the caller only acts on a difference that stays.
SELECT warehouse, product_id, product_name,
       sum(d_supplied) AS supplied, sum(d_relocated) AS relocated,
       sum(d_written_off) AS written_off
FROM
(
    SELECT warehouse, product_id, product_name,
           sumIf(moved, movement_type = 'supply') AS d_supplied,
           sumIf(moved, movement_type = 'relocation') AS d_relocated,
           sumIf(moved, movement_type = 'write_off') AS d_written_off
    FROM
    (
        SELECT warehouse, product_id, product_name, movement_type, sumMerge(quantity) AS moved
        FROM {{read_db}}.stock_by_minute
        GROUP BY warehouse, product_id, product_name, movement_type
    )
    GROUP BY warehouse, product_id, product_name
    UNION ALL
    SELECT warehouse, product_id, product_name,
           -sum(supplied) AS d_supplied, -sum(relocated) AS d_relocated,
           -sum(written_off) AS d_written_off
    FROM {{read_db}}.stock_levels
    GROUP BY warehouse, product_id, product_name
)
GROUP BY warehouse, product_id, product_name
HAVING supplied != 0 OR relocated != 0 OR written_off != 0
