-- Materialized views of the full schema that read a Kafka table: on 18.16 each parses the
-- message again (views do not cascade there).
SELECT toUInt64(count()) AS n
FROM system.tables
WHERE database = {{db:string}}
  AND engine = 'MaterializedView'
  AND match(create_table_query, '(?s)FROM\\s+[A-Za-z0-9_]+\\.[A-Za-z0-9_]+_kafka\\b')
