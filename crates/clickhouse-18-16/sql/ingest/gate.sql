-- A closed gate: a view into a table that does not exist. While it is attached, 18.16's
-- Kafka engine does not stream from {{kafka_table}} at all (it waits until every view's
-- target exists), so the views created next all start on the same first block.
-- Dropped as soon as they exist. Servers that cascade views need no gate.
CREATE MATERIALIZED VIEW {{db}}.{{kafka_table}}_gate TO {{db}}.{{kafka_table}}_gate_closed AS
SELECT 1 AS closed FROM {{db}}.{{kafka_table}};
