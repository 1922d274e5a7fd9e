-- What one target table holds, for `pipeline audit`: rows and distinct events.
SELECT count() AS rows, uniqExact(event_id) AS unique_events
FROM {{db}}.{{table}}
