-- Raw messages into a replay table, bytes untouched, with their place (src/replay.rs sends
-- the rows as TabSeparated).
INSERT INTO {{db}}.{{table}} (raw, message_topic, message_partition, message_offset, message_timestamp_ms)
FORMAT TabSeparated
