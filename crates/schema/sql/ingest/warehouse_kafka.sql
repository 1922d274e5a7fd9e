-- Reads the warehouse topic.
CREATE TABLE {{db}}.warehouse_kafka
(
    event_id      String,
    event_type    String,
    event_time    String,
    product_id    UInt32,
    product_name  String,
    category      String,
    warehouse     String,
    quantity      UInt32,
    movement_type String,
    source        String,
    responsible   String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{warehouse_topic}},
    kafka_group_name = {{warehouse_group}},
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = {{num_consumers}},
-- @if kafka_modern_settings
    kafka_thread_per_consumer = {{thread_per_consumer}},
    kafka_flush_interval_ms = 500,
    kafka_poll_timeout_ms = 250,
-- @endif
    kafka_max_block_size = {{max_block_size}};
