-- Refused warehouse messages → dead_letter (see sales_dead_letter_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.dead_letter AS
{{with}}
SELECT
    now()           AS received_at,
    message_topic     AS topic,
    message_partition AS partition,
    message_offset    AS offset,
-- @if kafka_error_stream
    if(raw != '', raw,
       toJSONString(CAST(tuple(event_id, event_type, event_time_text, product_id_value, product_name, category, warehouse, quantity_value, movement_type, source, responsible),
           'Tuple(event_id String, event_type String, event_time String, product_id Int64, product_name String, category String, warehouse String, quantity Int64, movement_type String, source String, responsible String)'))) AS raw,
-- @else
    raw,
-- @endif
    reject_reason   AS reason
FROM {{from}}
WHERE reject_reason != '';
