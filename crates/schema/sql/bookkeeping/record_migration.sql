INSERT INTO {{db}}.schema_migrations (version, name, checksum, applied_at)
VALUES ({{version}}, {{name}}, {{checksum}}, now())
