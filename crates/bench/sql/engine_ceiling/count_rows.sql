-- Rows in one table of an engine-ceiling database.
SELECT toUInt64(count()) AS n FROM {{db}}.{{table}}
