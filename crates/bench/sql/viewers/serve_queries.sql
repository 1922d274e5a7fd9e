-- The dashboard server's statements per second, from system.query_log: those named with its
-- query_id prefix (`serve.<pid>.`, set by crates/serve), and, for a server without the
-- prefix, every statement whose text names the bench database (nothing else reads it while
-- the bench measures). Finished (type 2) and failed (types 3, 4) apart; by start second.
SELECT
    toUInt64(query_start_time)                                    AS second,
    toUInt64(countIf(type = 2 AND startsWith(query_id, {{prefix}})))   AS by_prefix,
    toUInt64(sumIf(query_duration_ms, type = 2 AND startsWith(query_id, {{prefix}}))) AS by_prefix_ms,
    toUInt64(countIf(type > 2 AND startsWith(query_id, {{prefix}})))   AS by_prefix_failed,
    toUInt64(countIf(type = 2 AND position(query, {{db:string}}) > 0))    AS by_db,
    toUInt64(sumIf(query_duration_ms, type = 2 AND position(query, {{db:string}}) > 0)) AS by_db_ms,
    toUInt64(countIf(type > 2 AND position(query, {{db:string}}) > 0))    AS by_db_failed
FROM system.query_log
WHERE event_date >= yesterday()
  AND type >= 2
  AND query_start_time >= toDateTime({{from}})
  AND query_start_time < toDateTime({{to}})
GROUP BY second
ORDER BY second
