-- Accepted warehouse events → stock_movements (every target column selected, as in sales_mv).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.stock_movements AS
{{with}}
SELECT
    event_id,
    event_type,
    event_time,
    toUInt32(product_id_value)          AS product_id,
    product_name,
    category,
    warehouse,
    toUInt32(quantity_value)            AS quantity,
    movement_type,
    source,
    responsible,
    now()                               AS processing_time,
    message_topic                         AS kafka_topic,
    message_partition                     AS kafka_partition,
    toUInt64(greatest(message_offset, 0)) AS kafka_offset,
    message_timestamp_ms                  AS kafka_timestamp_ms
FROM {{from}}
WHERE reject_reason = '';
