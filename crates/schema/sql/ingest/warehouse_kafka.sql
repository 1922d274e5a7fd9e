-- Reads the warehouse topic, each message whole as `raw`, bytes untouched (RawBLOB: one row per
-- message, whatever its bytes), so a bad message never stops the table. Its one view parses
-- and checks it into warehouse_parsed (parse/warehouse_json.sql, parse/warehouse.sql), which fans
-- out to the other views; the error stream mode is a safeguard (RawBLOB reads any bytes).
-- ClickHouse 18.16 reads raw CSV lines instead: crates/clickhouse-18-16/sql/ingest/.
CREATE TABLE {{db}}.warehouse_kafka
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{warehouse_topic}},
    kafka_group_name = {{warehouse_group}},
    kafka_num_consumers = {{num_consumers}},
    kafka_format = 'RawBLOB',
    kafka_handle_error_mode = 'stream',
    kafka_thread_per_consumer = {{thread_per_consumer}},
    -- Flush small blocks quickly so a live dashboard sees rows within a second.
    kafka_flush_interval_ms = 500,
    kafka_poll_timeout_ms = 250,
    -- SASL/SSL where the server takes it as table settings (25.4+; empty otherwise, and
    -- older servers read it from their config's <kafka> section).
{{kafka_security}}
    kafka_max_block_size = {{max_block_size}};
