-- Differences between stock_levels and stock_by_minute that stayed the same across two looks
-- (stock_levels_drift.sql); the table's view adds them to stock_levels in the same INSERT.
INSERT INTO {{db}}.stock_levels_corrections
    (warehouse, product_id, product_name, supplied, relocated, written_off)
VALUES {{rows}}
