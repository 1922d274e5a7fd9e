-- Which of these event ids the target table holds. Copies of a message share its
-- event_time, which leads the table's ORDER BY: the day either side of the batch's times
-- keeps the read to a few granules even for a large table.
SELECT DISTINCT event_id
FROM {{db}}.{{table}}
WHERE event_time >= toDateTime({{from_time}}) - 86400
  AND event_time <= toDateTime({{to_time}}) + 86400
  AND event_id IN ({{ids}})
