-- A Kafka table reading messages whole, as the schema's Kafka tables read them
-- (crates/schema/sql/ingest/sales_kafka.sql) but with no view parsing them: on 18.16 each
-- message as one raw CSV line (the server profile's DEL delimiter, no quoting); on current
-- servers RawBLOB. One consumer.
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
-- @if kafka_error_stream
    kafka_format = 'RawBLOB',
-- @else
    kafka_format = 'CSV',
    kafka_row_delimiter = '\n',
-- @endif
    kafka_max_block_size = {{max_block_size}}
