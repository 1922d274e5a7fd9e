-- 18.16's sales Kafka table. 18.16 has neither RawBLOB nor the error stream mode, and
-- stops a Kafka table for good at one unreadable message. So it reads each message as one
-- raw CSV line (a field delimiter JSON text hardly ever holds, DEL, and no quoting: set in
-- the server profile, checked by src/engine_profile.rs), and each view parses it
-- (parse/sales_raw.sql). The few byte strings even that cannot read (a lone CR, a DEL)
-- stall the table; `pipeline up` rescues it (src/rescue.rs), and its verifier replays any
-- message the engine committed without writing (src/verify.rs).
-- The block size follows the expected rate: 18.16 writes a block only when it is full.
CREATE TABLE {{db}}.sales_kafka
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{sales_topic}},
    kafka_group_name = {{sales_group}},
    kafka_num_consumers = {{num_consumers}},
    kafka_format = 'CSV',
    kafka_row_delimiter = '\n',
    -- SASL/SSL where the server takes it as table settings (25.4+; empty otherwise, and
    -- older servers read it from their config's <kafka> section).
{{kafka_security}}
    kafka_max_block_size = {{max_block_size}};
