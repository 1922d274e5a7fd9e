-- The checksum of each ingest object as last created.
SELECT name, argMax(checksum, applied_at) AS checksum
FROM {{db}}.schema_ingest
GROUP BY name
