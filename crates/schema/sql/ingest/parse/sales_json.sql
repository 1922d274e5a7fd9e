-- Current servers: a sales message, read whole (RawBLOB), → the sales fields, or why not.
-- The same rules, in the same order and with the same reasons, as 18.16's reader
-- (sales_raw.sql): one flat JSON object of at most 64 KiB, each field of the JSON type the
-- contract gives it. The type is checked with JSONType before a value is read, because
-- JSONExtract* convert: "12.50" reads as 12.5, 1.0 as an integer, a number as its text.
SELECT
    raw,
    message_topic,
    message_partition,
    message_offset,
    message_timestamp_ms,
    JSONExtractString(j, 'event_id')     AS event_id,
    JSONExtractString(j, 'event_type')   AS event_type,
    JSONExtractString(j, 'event_time')   AS event_time_text,
    JSONExtractInt(j, 'product_id')      AS product_id_value,
    JSONExtractString(j, 'product_name') AS product_name,
    JSONExtractString(j, 'category')     AS category,
    JSONExtractInt(j, 'quantity')        AS quantity_value,
    JSONExtractFloat(j, 'price')         AS price_value,
    JSONExtractFloat(j, 'discount')      AS discount_value,
    JSONExtractFloat(j, 'total')         AS total_value,
    JSONExtractInt(j, 'store_id')        AS store_id_value,
    JSONExtractInt(j, 'cashier_id')      AS cashier_id_value,
    JSONExtractString(j, 'customer_id')  AS customer_id,
    multiIf(
        read_error != '', concat('unreadable message: ', read_error),
        length(raw) > 65536, concat('oversized message: ', toString(length(raw)), ' bytes (limit 65536)'),
        NOT is_flat_object, 'malformed JSON: not one flat JSON object',
        JSONType(j, 'event_id') != 'String', 'event_id: missing or not a string',
        JSONType(j, 'event_type') != 'String', 'event_type: missing or not a string',
        JSONType(j, 'event_time') != 'String', 'event_time: missing or not a string',
        JSONType(j, 'product_id') NOT IN ('Int64', 'UInt64'), 'product_id: missing or not an integer',
        JSONType(j, 'product_name') != 'String', 'product_name: missing or not a string',
        JSONType(j, 'category') != 'String', 'category: missing or not a string',
        JSONType(j, 'quantity') NOT IN ('Int64', 'UInt64'), 'quantity: missing or not an integer',
        JSONType(j, 'price') NOT IN ('Int64', 'UInt64', 'Double'), 'price: missing or not a number',
        JSONType(j, 'discount') NOT IN ('Int64', 'UInt64', 'Double'), 'discount: missing or not a number',
        JSONType(j, 'total') NOT IN ('Int64', 'UInt64', 'Double'), 'total: missing or not a number',
        JSONType(j, 'store_id') NOT IN ('Int64', 'UInt64'), 'store_id: missing or not an integer',
        JSONType(j, 'cashier_id') NOT IN ('Int64', 'UInt64'), 'cashier_id: missing or not an integer',
        JSONType(j, 'customer_id') != 'String', 'customer_id: missing or not a string',
        '') AS parse_error
FROM ({{message}})
