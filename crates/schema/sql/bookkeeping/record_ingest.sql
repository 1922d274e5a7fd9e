INSERT INTO {{db}}.schema_ingest (name, checksum, applied_at)
VALUES ({{name}}, {{checksum}}, now())
