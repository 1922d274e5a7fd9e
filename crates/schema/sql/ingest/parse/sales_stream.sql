-- sales_kafka in the error stream mode → the sales fields, or why not. A message the
-- engine could not parse arrives with _error and _raw_message set and the fields empty.
SELECT
    _raw_message AS raw,
    {{metadata}},
    event_id,
    event_type,
    event_time   AS event_time_text,
    product_id   AS product_id_value,
    product_name,
    category,
    quantity     AS quantity_value,
    price        AS price_value,
    discount     AS discount_value,
    total        AS total_value,
    store_id     AS store_id_value,
    cashier_id   AS cashier_id_value,
    customer_id,
    if(_error = '', '', concat('malformed JSON: ', _error)) AS parse_error
FROM {{db}}.{{source}}
