-- Statements one `pipeline serve` process finished in [from, to) (Unix seconds): serve
-- names each `serve.<pid>.<start>.<n>` and runs it with log_queries = 1.
SELECT toUInt64(count()) AS statements
FROM system.query_log
WHERE event_date >= yesterday()
  AND type = 2
  AND startsWith(query_id, {{prefix}})
  AND event_time >= toDateTime({{from}})
  AND event_time < toDateTime({{to}})
