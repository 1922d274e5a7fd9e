-- 18.16's Kafka engine has no virtual columns: the topic is known, the rest is -1 / 0.
{{topic}} AS message_topic,
toInt64(-1) AS message_offset,
toInt32(-1) AS message_partition,
toInt64(0) AS message_timestamp_ms
