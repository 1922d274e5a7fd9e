-- Where `pipeline up`'s rescue puts the messages of a stalled Kafka table (crates/clickhouse-18-16/src/rescue.rs):
-- the raw bytes exactly as produced, with their topic, partition and offset. A Null table
-- keeps nothing; its own views (the *_replay_* views) parse and route each message exactly
-- as the Kafka table's views do.
CREATE TABLE {{db}}.warehouse_replay
(
    raw                  String,
    message_topic        String,
    message_partition    Int32,
    message_offset       Int64,
    message_timestamp_ms Int64
)
ENGINE = Null;
