-- sales_kafka → sales. Every target column is selected: on 18.16 a column left to its
-- DEFAULT fails the insert and loses the batch.
-- Money goes through toString: toDecimal32(Float64) truncates (0.29 → 0.28), while the
-- shortest decimal text of the double is exactly what the producer wrote.
CREATE MATERIALIZED VIEW {{db}}.sales_mv TO {{db}}.sales AS
SELECT
    event_id,
    event_type,
    parseDateTimeBestEffort(event_time) AS event_time,
    product_id,
    product_name,
    category,
    quantity,
    toDecimal32(toString(price), 2)    AS price,
    toDecimal32(toString(discount), 2) AS discount,
    toDecimal32(toString(total), 2)    AS total,
    store_id,
    cashier_id,
    customer_id,
    now() AS processing_time,
-- @if kafka_virtual_columns
    _topic AS kafka_topic,
    toUInt64(_offset) AS kafka_offset,
-- @else
    -- 18.16 exposes no virtual columns; this table reads exactly one topic.
    {{sales_topic}} AS kafka_topic,
    toUInt64(0) AS kafka_offset,
-- @endif
-- @if kafka_partition_column
    toInt32(_partition) AS kafka_partition,
    toInt64(ifNull(toUnixTimestamp64Milli(_timestamp_ms), 0)) AS kafka_timestamp_ms
-- @else
    toInt32(-1) AS kafka_partition,
    toInt64(0) AS kafka_timestamp_ms
-- @endif
FROM {{db}}.sales_kafka;
