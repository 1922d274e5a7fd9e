-- Reads the sales topic. Types are what the JSON carries; the view below converts them.
CREATE TABLE {{db}}.sales_kafka
(
    event_id     String,
    event_type   String,
    event_time   String,
    product_id   UInt32,
    product_name String,
    category     String,
    quantity     UInt32,
    price        Float64,
    discount     Float64,
    total        Float64,
    store_id     UInt32,
    cashier_id   UInt32,
    customer_id  String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{sales_topic}},
    kafka_group_name = {{sales_group}},
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = {{num_consumers}},
-- @if kafka_modern_settings
    kafka_thread_per_consumer = {{thread_per_consumer}},
    -- Flush small blocks quickly so a live dashboard sees rows within a second.
    kafka_flush_interval_ms = 500,
    kafka_poll_timeout_ms = 250,
-- @endif
    kafka_max_block_size = {{max_block_size}};
