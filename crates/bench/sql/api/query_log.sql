-- ClickHouse's own figures for the diagnostic pass: an endpoint's statements are named
-- `<prefix><key>.<n>` (several may run side by side), summed per key.
SELECT
    substring(query_id, 1, position(query_id, '.') - 1) AS endpoint,
    toUInt64(count())                 AS statements,
    toUInt64(sum(query_duration_ms))  AS duration_ms,
    toUInt64(sum(read_rows))          AS read_rows,
    toUInt64(sum(read_bytes))         AS read_bytes,
    toUInt64(max(memory_usage))       AS memory_bytes
FROM system.query_log
WHERE event_date >= yesterday() AND type = 2 AND startsWith(query_id, {{prefix}})
GROUP BY endpoint
