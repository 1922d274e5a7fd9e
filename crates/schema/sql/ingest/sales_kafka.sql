-- Reads the sales topic. Bad messages never stop it:
-- on servers with the error stream mode (21.6+) the engine parses JSONEachRow and hands
-- each message it cannot parse to the views as a row with _error and _raw_message set;
-- integers are read as Int64 so a negative quantity is a refused value, not a parse error,
-- and every column is Nullable so a field left out is told apart from a zero or ''.
-- Older servers (18.16) stop a Kafka table for good at one unparsable message, so there it
-- reads each message as one raw line (CSV whose delimiter, DEL, JSON text hardly ever
-- holds, no quoting: set in the server profile, see scripts/clickhouse/users.xml.in) and
-- the views parse and check it (parse/sales_raw.sql). The few byte strings even that cannot
-- read (a lone CR, a DEL) stall the table; `pipeline up` rescues it (crates/reconcile/src/rescue.rs),
-- and its verifier replays any message the engine committed without writing (verify.rs).
CREATE TABLE {{db}}.sales_kafka
(
-- @if kafka_error_stream
    event_id     Nullable(String),
    event_type   Nullable(String),
    event_time   Nullable(String),
    product_id   Nullable(Int64),
    product_name Nullable(String),
    category     Nullable(String),
    quantity     Nullable(Int64),
    price        Nullable(Float64),
    discount     Nullable(Float64),
    total        Nullable(Float64),
    store_id     Nullable(Int64),
    cashier_id   Nullable(Int64),
    customer_id  Nullable(String)
-- @else
    raw String
-- @endif
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{sales_topic}},
    kafka_group_name = {{sales_group}},
    kafka_num_consumers = {{num_consumers}},
-- @if kafka_error_stream
    kafka_format = 'JSONEachRow',
    kafka_handle_error_mode = 'stream',
    input_format_skip_unknown_fields = 1,
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
