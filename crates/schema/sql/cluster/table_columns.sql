-- Columns of every MergeTree-family table in a database (in each table's own order), to
-- build or check their Distributed twins.
SELECT table, name, type
FROM system.columns
WHERE database = {{db_name}}
  AND table IN (SELECT name FROM system.tables WHERE database = {{db_name}} AND engine LIKE '%MergeTree')
