-- A Kafka table reading messages whole (RawBLOB), as the schema's Kafka tables read them
-- (crates/schema/sql/ingest/sales_kafka.sql) but with no view parsing them. One consumer.
-- 18.16's: crates/clickhouse-18-16/sql/bench/engine_ceiling_kafka_table.sql.
CREATE TABLE {{db}}.{{table}}
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{topics}},
    kafka_group_name = {{group}},
    kafka_num_consumers = 1,
    kafka_format = 'RawBLOB',
    kafka_max_block_size = {{max_block_size}}
