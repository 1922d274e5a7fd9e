-- Accepted sales → sales. Every target column is selected: on 18.16 a column left to its
-- DEFAULT fails the insert and loses the batch.
-- Money goes through toString: toDecimal32(Float64) truncates (0.29 → 0.28), while the
-- shortest decimal text of the rounded double is exactly what the producer wrote.
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.sales AS
{{with}}
SELECT
    event_id,
    event_type,
    event_time,
    toUInt32(product_id_value)                        AS product_id,
    product_name,
    category,
    toUInt32(quantity_value)                          AS quantity,
    toDecimal32(toString(round(price_value, 2)), 2)    AS price,
    toDecimal32(toString(round(discount_value, 2)), 2) AS discount,
    toDecimal32(toString(round(total_value, 2)), 2)    AS total,
    toUInt32(store_id_value)                          AS store_id,
    toUInt32(cashier_id_value)                        AS cashier_id,
    customer_id,
    now()                                             AS processing_time,
    message_topic                                     AS kafka_topic,
    message_partition                                 AS kafka_partition,
    toUInt64(greatest(message_offset, 0))             AS kafka_offset,
    message_timestamp_ms                              AS kafka_timestamp_ms
FROM {{from}}
WHERE reject_reason = '';
