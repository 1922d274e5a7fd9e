-- Where each row came from: topic, partition and offset let the audit match rows to the
-- broker's offsets. Where the server's Kafka engine does not expose them, kafka_offset is 0
-- (before 19.1), kafka_partition -1 and kafka_timestamp_ms 0 (before 20.5): the shape is the
-- same on every version.
ALTER TABLE {{db}}.sales
    ADD COLUMN kafka_topic String DEFAULT '',
    ADD COLUMN kafka_partition Int32 DEFAULT -1,
    ADD COLUMN kafka_offset UInt64 DEFAULT 0,
    ADD COLUMN kafka_timestamp_ms Int64 DEFAULT 0;

ALTER TABLE {{db}}.stock_movements
    ADD COLUMN kafka_topic String DEFAULT '',
    ADD COLUMN kafka_partition Int32 DEFAULT -1,
    ADD COLUMN kafka_offset UInt64 DEFAULT 0,
    ADD COLUMN kafka_timestamp_ms Int64 DEFAULT 0;
