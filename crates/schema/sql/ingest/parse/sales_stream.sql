-- sales_kafka in the error stream mode → the sales fields, or why not. A message the
-- engine could not parse arrives with _error and _raw_message set and the fields NULL; a
-- field the message left out (or set to null) is NULL too, and refused like the raw path
-- refuses it (sales_raw.sql / warehouse_raw.sql). The inner query renames the Kafka
-- table's columns, whose names are the outputs': an alias may not shadow its own source.
SELECT
    _raw_message AS raw,
    {{metadata}},
    ifNull(field_event_id, '') AS event_id,
    ifNull(field_event_type, '') AS event_type,
    ifNull(field_event_time, '') AS event_time_text,
    ifNull(field_product_id, 0) AS product_id_value,
    ifNull(field_product_name, '') AS product_name,
    ifNull(field_category, '') AS category,
    ifNull(field_quantity, 0) AS quantity_value,
    ifNull(field_price, 0) AS price_value,
    ifNull(field_discount, 0) AS discount_value,
    ifNull(field_total, 0) AS total_value,
    ifNull(field_store_id, 0) AS store_id_value,
    ifNull(field_cashier_id, 0) AS cashier_id_value,
    ifNull(field_customer_id, '') AS customer_id,
    multiIf(
        _error != '', concat('malformed JSON: ', _error),
        field_event_id IS NULL, 'event_id: missing or not a string',
        field_event_type IS NULL, 'event_type: missing or not a string',
        field_event_time IS NULL, 'event_time: missing or not a string',
        field_product_id IS NULL, 'product_id: missing or not an integer',
        field_product_name IS NULL, 'product_name: missing or not a string',
        field_category IS NULL, 'category: missing or not a string',
        field_quantity IS NULL, 'quantity: missing or not an integer',
        field_price IS NULL, 'price: missing or not a number',
        field_discount IS NULL, 'discount: missing or not a number',
        field_total IS NULL, 'total: missing or not a number',
        field_store_id IS NULL, 'store_id: missing or not an integer',
        field_cashier_id IS NULL, 'cashier_id: missing or not an integer',
        field_customer_id IS NULL, 'customer_id: missing or not a string',
        '') AS parse_error
FROM (
    SELECT
        _raw_message, _error, _topic, _offset, _partition, _timestamp_ms,
        event_id AS field_event_id,
        event_type AS field_event_type,
        event_time AS field_event_time,
        product_id AS field_product_id,
        product_name AS field_product_name,
        category AS field_category,
        quantity AS field_quantity,
        price AS field_price,
        discount AS field_discount,
        total AS field_total,
        store_id AS field_store_id,
        cashier_id AS field_cashier_id,
        customer_id AS field_customer_id
    FROM {{db}}.{{source}}
)
