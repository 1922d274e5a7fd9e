-- Columns of every Distributed twin already made.
SELECT table, name, type
FROM system.columns
WHERE database = {{db_name}}
  AND table IN (SELECT name FROM system.tables WHERE database = {{db_name}} AND engine = 'Distributed')
