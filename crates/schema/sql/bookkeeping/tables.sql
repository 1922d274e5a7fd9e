-- Bookkeeping of `pipeline schema apply`: which migrations ran, and which version of each
-- ingest object (Kafka table, materialized view) is in place.
CREATE TABLE IF NOT EXISTS {{db}}.schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime
)
ENGINE = MergeTree
ORDER BY version;

CREATE TABLE IF NOT EXISTS {{db}}.schema_ingest
(
    name       String,
    checksum   String,
    applied_at DateTime
)
ENGINE = MergeTree
ORDER BY (name, applied_at);
