-- The original demo's /api/status on the raw tables (docs/contract.md): which tables exist and
-- count() of each.
SELECT
    (SELECT groupArray(name) FROM system.tables WHERE database = {{db:string}}) AS existing_tables,
    (SELECT count() FROM {{db}}.sales)                                        AS sales_count,
    (SELECT count() FROM {{db}}.stock_movements)                              AS stock_count
