-- A stock_levels correction (crates/reconcile/src/rollups.rs) goes into stock_levels.
CREATE MATERIALIZED VIEW {{db}}.stock_corrections_levels_mv TO {{db}}.stock_levels AS
SELECT warehouse, product_id, product_name, supplied, relocated, written_off
FROM {{db}}.stock_levels_corrections;
