-- warehouse_kafka → stock_movements; every target column selected (see sales_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.stock_movements_mv TO {{db}}.stock_movements AS
SELECT
    event_id,
    event_type,
    parseDateTimeBestEffort(event_time) AS event_time,
    product_id,
    product_name,
    category,
    warehouse,
    quantity,
    movement_type,
    source,
    responsible,
    now() AS processing_time,
-- @if kafka_virtual_columns
    _topic AS kafka_topic,
    toUInt64(_offset) AS kafka_offset,
-- @else
    -- 18.16 exposes no virtual columns; this table reads exactly one topic.
    {{warehouse_topic}} AS kafka_topic,
    toUInt64(0) AS kafka_offset,
-- @endif
-- @if kafka_partition_column
    toInt32(_partition) AS kafka_partition,
    toInt64(ifNull(toUnixTimestamp64Milli(_timestamp_ms), 0)) AS kafka_timestamp_ms
-- @else
    toInt32(-1) AS kafka_partition,
    toInt64(0) AS kafka_timestamp_ms
-- @endif
FROM {{db}}.warehouse_kafka;
