-- warehouse_kafka in the error stream mode → the warehouse fields, or why not.
SELECT
    _raw_message AS raw,
    {{metadata}},
    event_id,
    event_type,
    event_time   AS event_time_text,
    product_id   AS product_id_value,
    product_name,
    category,
    warehouse,
    quantity     AS quantity_value,
    movement_type,
    source,
    responsible,
    if(_error = '', '', concat('malformed JSON: ', _error)) AS parse_error
FROM {{db}}.{{source}}
