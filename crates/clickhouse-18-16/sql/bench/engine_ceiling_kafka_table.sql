-- The engine-ceiling bench's Kafka table on 18.16 (crates/bench/sql/engine_ceiling/): each
-- message as one raw CSV line (the server profile's DEL delimiter, no quoting), as 18.16's
-- schema reads them, with no view parsing them. One consumer.
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
    kafka_format = 'CSV',
    kafka_row_delimiter = '\n',
    kafka_max_block_size = {{max_block_size}}
