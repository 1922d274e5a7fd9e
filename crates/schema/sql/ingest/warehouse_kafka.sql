-- Reads the warehouse topic, each message whole as `raw`, bytes untouched: the views parse and
-- check it, so a bad message never stops the table and both server families refuse exactly
-- the same messages for the same reasons.
-- Current servers (21.7+): RawBLOB, one row per message, with the error stream mode as a
-- safeguard (RawBLOB reads any bytes). The table's one view parses it into warehouse_parsed
-- (parse/warehouse_json.sql), which fans out to the other views.
-- ClickHouse 18.16 has neither, and stops a Kafka table for good at one unreadable message.
-- There it reads each message as one raw CSV line (a field delimiter JSON text hardly ever
-- holds, DEL, and no quoting: set in the server profile, see scripts/clickhouse/users.xml.in),
-- and each view parses it (parse/warehouse_raw.sql). The few byte strings even that cannot read (a
-- lone CR, a DEL) stall the table; `pipeline up` rescues it (crates/reconcile/src/rescue.rs),
-- and its verifier replays any message the engine committed without writing (verify.rs).
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
-- @if kafka_error_stream
    kafka_format = 'RawBLOB',
    kafka_handle_error_mode = 'stream',
    kafka_thread_per_consumer = {{thread_per_consumer}},
    -- Flush small blocks quickly so a live dashboard sees rows within a second.
    kafka_flush_interval_ms = 500,
    kafka_poll_timeout_ms = 250,
-- @else
    kafka_format = 'CSV',
    kafka_row_delimiter = '\n',
-- @endif
    -- SASL/SSL where the server takes it as table settings (25.4+; empty otherwise, and
    -- older servers read it from their config's <kafka> section).
{{kafka_security}}
    kafka_max_block_size = {{max_block_size}};
