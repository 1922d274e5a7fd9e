-- Feeds stock_levels (rules in migration 0003) from each source (no cascade on 18.16).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_levels AS
{{with}}
SELECT
    warehouse,
    toUInt32(product_id_value) AS product_id,
    product_name,
    sum(if(movement_type = 'supply', quantity_value, toInt64(0)))     AS supplied,
    sum(if(movement_type = 'relocation', quantity_value, toInt64(0))) AS relocated,
    sum(if(movement_type = 'write_off', quantity_value, toInt64(0)))  AS written_off
FROM {{from}}
WHERE reject_reason = ''
GROUP BY warehouse, product_id, product_name;
