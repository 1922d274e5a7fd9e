-- The event times those parts cover. Copies of one message share its event_time, so every
-- duplicate of a new row lies in this range, which the table's ORDER BY reads cheaply.
SELECT toUInt32(min(event_time)) AS lo, toUInt32(max(event_time)) AS hi, toUInt64(count()) AS n
FROM {{db}}.{{table}}
WHERE _part IN ({{parts}})
