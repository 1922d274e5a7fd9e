-- warehouse_kafka in the error stream mode → the warehouse fields, or why not. A message the
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
    ifNull(field_warehouse, '') AS warehouse,
    ifNull(field_quantity, 0) AS quantity_value,
    ifNull(field_movement_type, '') AS movement_type,
    ifNull(field_source, '') AS source,
    ifNull(field_responsible, '') AS responsible,
    multiIf(
        _error != '', concat('malformed JSON: ', _error),
        field_event_id IS NULL, 'event_id: missing or not a string',
        field_event_type IS NULL, 'event_type: missing or not a string',
        field_event_time IS NULL, 'event_time: missing or not a string',
        field_product_id IS NULL, 'product_id: missing or not an integer',
        field_product_name IS NULL, 'product_name: missing or not a string',
        field_category IS NULL, 'category: missing or not a string',
        field_warehouse IS NULL, 'warehouse: missing or not a string',
        field_quantity IS NULL, 'quantity: missing or not an integer',
        field_movement_type IS NULL, 'movement_type: missing or not a string',
        field_source IS NULL, 'source: missing or not a string',
        field_responsible IS NULL, 'responsible: missing or not a string',
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
        warehouse AS field_warehouse,
        quantity AS field_quantity,
        movement_type AS field_movement_type,
        source AS field_source,
        responsible AS field_responsible
    FROM {{db}}.{{source}}
)
