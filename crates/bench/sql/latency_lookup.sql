-- Which sampled event ids one table shows yet (the ids come from our own generator).
-- event_time leads the tables' ORDER BY: the bound keeps the lookup on recent parts.
SELECT event_id FROM {{db}}.{{table}}
WHERE event_time >= toDateTime({{since}}) AND event_id IN ({{ids}})
