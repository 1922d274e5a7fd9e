-- Current servers: the warehouse Kafka table's only view (see sales_parse_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.warehouse_parsed AS
SELECT
    raw, message_topic, message_partition, message_offset, message_timestamp_ms,
    event_id, event_type, event_time, event_time_text, product_id_value, product_name,
    category, warehouse, quantity_value, movement_type, source, responsible, reject_reason
FROM {{from}};
