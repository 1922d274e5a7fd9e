-- What one bench database holds: bytes on disk, rows and active parts of the raw tables,
-- and the merges still running.
SELECT
    (SELECT toUInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = {{db:string}} AND active) AS bytes,
    (SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = {{db:string}} AND active AND table = 'sales') AS sales_rows,
    (SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = {{db:string}} AND active AND table = 'stock_movements') AS stock_movements_rows,
    (SELECT count() FROM system.parts WHERE database = {{db:string}} AND active AND table = 'sales') AS sales_parts,
    (SELECT count() FROM system.parts WHERE database = {{db:string}} AND active AND table = 'stock_movements') AS stock_movements_parts,
    (SELECT count() FROM system.merges WHERE database = {{db:string}}) AS merges
