-- Where a message came from, as far as this server's Kafka engine tells; -1 where it does not.
-- @if kafka_virtual_columns
_topic AS message_topic,
toInt64(_offset) AS message_offset,
-- @else
{{topic}} AS message_topic,
toInt64(-1) AS message_offset,
-- @endif
-- @if kafka_partition_column
toInt32(_partition) AS message_partition,
toInt64(ifNull(toUnixTimestamp64Milli(_timestamp_ms), 0)) AS message_timestamp_ms
-- @else
toInt32(-1) AS message_partition,
toInt64(0) AS message_timestamp_ms
-- @endif
