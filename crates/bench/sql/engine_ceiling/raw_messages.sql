-- The sales messages a trivial view landed, for chDB's parse cost (one per line).
SELECT raw FROM {{db}}.{{table}}
