-- Where a message came from: the Kafka engine's virtual columns.
_topic AS message_topic,
toInt64(_offset) AS message_offset,
toInt32(_partition) AS message_partition,
toInt64(ifNull(toUnixTimestamp64Milli(_timestamp_ms), 0)) AS message_timestamp_ms
