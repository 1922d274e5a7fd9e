-- Feeds stock_levels (rules in migration 0003; source chosen as in sales_by_minute_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_levels AS
-- @if cascading_views
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', toInt64(quantity), toInt64(0)))     AS supplied,
    sum(if(movement_type = 'relocation', toInt64(quantity), toInt64(0))) AS relocated,
    sum(if(movement_type = 'write_off', toInt64(quantity), toInt64(0)))  AS written_off
FROM {{db}}.stock_movements
-- @else
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
-- @endif
GROUP BY warehouse, product_id, product_name;
