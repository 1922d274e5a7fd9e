-- The minutes the rows of these parts fall in.
SELECT DISTINCT toUInt32({{minute_of_row}}) AS minute
FROM {{db}}.{{table}}
WHERE _part IN ({{parts}})
