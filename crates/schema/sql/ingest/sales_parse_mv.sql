-- Current servers: the sales Kafka table's only view. Parses and checks each message once
-- (parse/sales_json.sql, parse/sales.sql) into the sales_parsed fan-out. `apply` creates it
-- after every view downstream and drops it first, so the topic is read only while the whole
-- fan-out is in place.
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.sales_parsed AS
SELECT
    raw, message_topic, message_partition, message_offset, message_timestamp_ms,
    event_id, event_type, event_time, event_time_text, product_id_value, product_name,
    category, quantity_value, price_value, discount_value, total_value, store_id_value,
    cashier_id_value, customer_id, reject_reason
FROM {{from}};
