-- Recorded duplicate warehouse events leave stock_levels.
CREATE MATERIALIZED VIEW {{db}}.stock_duplicates_levels_mv TO {{db}}.stock_levels AS
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', -copies_removed * toInt64(quantity), toInt64(0)))     AS supplied,
    sum(if(movement_type = 'relocation', -copies_removed * toInt64(quantity), toInt64(0))) AS relocated,
    sum(if(movement_type = 'write_off', -copies_removed * toInt64(quantity), toInt64(0)))  AS written_off
FROM {{db}}.stock_movements_duplicates
GROUP BY warehouse, product_id, product_name;
