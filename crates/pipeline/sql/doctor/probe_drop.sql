DROP TABLE IF EXISTS default.{{table}}
