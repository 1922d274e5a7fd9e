-- Which of the latency probe's event ids are queryable yet (ids come from our generator).
SELECT event_id
FROM {{db}}.{{table}}
WHERE event_time >= now() - 600 AND event_id IN ({{ids}})
