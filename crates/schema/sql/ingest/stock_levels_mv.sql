-- Feeds stock_levels (rules in migration 0003) from stock_movements (views cascade).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_levels AS
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', toInt64(quantity), toInt64(0)))     AS supplied,
    sum(if(movement_type = 'relocation', toInt64(quantity), toInt64(0))) AS relocated,
    sum(if(movement_type = 'write_off', toInt64(quantity), toInt64(0)))  AS written_off
FROM {{db}}.stock_movements
GROUP BY warehouse, product_id, product_name;
