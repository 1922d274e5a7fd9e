DROP TABLE IF EXISTS {{db}}.{{table}}
