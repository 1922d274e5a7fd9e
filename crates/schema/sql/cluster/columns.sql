-- Columns of every table of a database whose engine matches (in each table's own order):
-- the MergeTree tables, to build their Distributed twins, and the twins, to check them.
SELECT table, name, type
FROM system.columns
WHERE database = {{db:string}}
  AND table IN (SELECT name FROM system.tables WHERE database = {{db:string}} AND engine LIKE {{engine}})
