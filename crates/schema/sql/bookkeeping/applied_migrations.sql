-- The migrations applied to a database (a replica may record one twice).
SELECT DISTINCT version FROM {{db}}.schema_migrations ORDER BY version
