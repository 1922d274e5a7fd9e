-- Feeds stock_levels (rules in migration 0003; source chosen as in sales_by_minute_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.stock_levels_mv TO {{db}}.stock_levels AS
SELECT
    warehouse,
    product_id,
    product_name,
    sum(if(movement_type = 'supply', toUInt64(quantity), toUInt64(0)))     AS supplied,
    sum(if(movement_type = 'relocation', toUInt64(quantity), toUInt64(0))) AS relocated,
    sum(if(movement_type = 'write_off', toUInt64(quantity), toUInt64(0)))  AS written_off
-- @if cascading_views
FROM {{db}}.stock_movements
-- @else
FROM {{db}}.warehouse_kafka
-- @endif
GROUP BY warehouse, product_id, product_name;
