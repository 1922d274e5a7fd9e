-- Refused sales messages → dead_letter, with the bytes as produced. Where the stream mode
-- parsed a message that the rules then refused (a field missing, a value out of range), the
-- engine keeps no raw bytes; the row is written back as JSON under the contract's field
-- names (a missing field as its default; the reason names it).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.dead_letter AS
{{with}}
SELECT
    now()           AS received_at,
    message_topic     AS topic,
    message_partition AS partition,
    message_offset    AS offset,
-- @if kafka_error_stream
    if(raw != '', raw,
       toJSONString(CAST(tuple(event_id, event_type, event_time_text, product_id_value, product_name, category, quantity_value, price_value, discount_value, total_value, store_id_value, cashier_id_value, customer_id),
           'Tuple(event_id String, event_type String, event_time String, product_id Int64, product_name String, category String, quantity Int64, price Float64, discount Float64, total Float64, store_id Int64, cashier_id Int64, customer_id String)'))) AS raw,
-- @else
    raw,
-- @endif
    reject_reason   AS reason
FROM {{from}}
WHERE reject_reason != '';
