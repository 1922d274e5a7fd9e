-- What one target table holds, for `pipeline audit`: rows and distinct events, how many
-- events its minute rollup counts (what the dashboard shows), and how many corrections the
-- rollup check has written to that rollup.
SELECT count() AS rows, uniqExact(event_id) AS unique_events,
       (SELECT toInt64(sumMerge({{count_column}})) FROM {{db}}.{{rollup}}) AS counted,
       (SELECT count() FROM {{db}}.{{rollup}}_corrections) AS corrections
FROM {{db}}.{{table}}
