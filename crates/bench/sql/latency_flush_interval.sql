-- How often the server flushes a Kafka table's stream (what bounds latency where the
-- table has no flush setting of its own).
SELECT value FROM system.settings WHERE name = 'stream_flush_interval_ms'
