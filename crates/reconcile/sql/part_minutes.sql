-- The minutes the rows of these parts fall in, with their hour (in the server's time zone,
-- which may be a half-hour one). Aliases differ from the column names: an alias would
-- shadow the column in the other expression.
SELECT DISTINCT toUInt32({{minute_of_row}}) AS touched_minute,
       toUInt32(toStartOfHour({{minute_of_row}})) AS touched_hour
FROM {{db}}.{{table}}
WHERE _part IN ({{parts}})
