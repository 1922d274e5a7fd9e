-- A raw message (18.16's Kafka table, or a rescued one) → the sales fields, or why not.
-- visitParam* functions exist on every version but see no whitespace and no nesting, so
-- the message is first compacted (whitespace outside strings removed) and must be one flat
-- JSON object; each field's JSON type is checked before it is read. The object check follows
-- JSON's grammar as current servers' isValidJSON does (strings of valid UTF-8 without raw
-- control characters or unknown escapes, numbers without leading zeros), so both server
-- families refuse the same messages (differences left: docs/dialects.md).
-- A list of WITH expressions over the column `raw`, so the view stays one SELECT: 18.16
-- runs a view's query over the inserted block as its outermost FROM and cannot see a
-- subquery's source.
    -- Whitespace between tokens is removed (visitParam* see none). Most messages have none:
    -- a capture-free match finds them, and the costly replace runs on '' for them (18.16
    -- computes both branches of an if: this halves the cost of a view).
    match(raw, '^(?:[^" \\t\\n\\r]|"(?:[^"\\\\]|\\\\.)*")*$') AS already_compact,
    if(already_compact, raw,
       replaceRegexpAll(if(already_compact, '', raw), '("(?:[^"\\\\]|\\\\.)*")|[ \\t\\n\\r]+', '\\1')) AS compact,
    match(compact, '^\\{(?:"(?:[^"\\\\\\x00-\\x1F]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*":(?:"(?:[^"\\\\\\x00-\\x1F]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*"|-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null)(?:,"(?:[^"\\\\\\x00-\\x1F]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*":(?:"(?:[^"\\\\\\x00-\\x1F]|\\\\["\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4})*"|-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null))*)?\\}$') AS is_flat_object,
    -- visitParam* read past the end of a value that is not closed (`"discount":0.` at the
    -- end of a cut message) and crash 18.16: they only ever see a checked object.
    if(is_flat_object, compact, '{}') AS j,
    visitParamExtractString(j, 'event_id')                  AS event_id,
    visitParamExtractString(j, 'event_type')                AS event_type,
    visitParamExtractString(j, 'event_time')                AS event_time_text,
    toInt64OrZero(visitParamExtractRaw(j, 'product_id'))    AS product_id_value,
    visitParamExtractString(j, 'product_name')              AS product_name,
    visitParamExtractString(j, 'category')                  AS category,
    toInt64OrZero(visitParamExtractRaw(j, 'quantity'))      AS quantity_value,
    toFloat64OrZero(visitParamExtractRaw(j, 'price'))       AS price_value,
    toFloat64OrZero(visitParamExtractRaw(j, 'discount'))    AS discount_value,
    toFloat64OrZero(visitParamExtractRaw(j, 'total'))       AS total_value,
    toInt64OrZero(visitParamExtractRaw(j, 'store_id'))      AS store_id_value,
    toInt64OrZero(visitParamExtractRaw(j, 'cashier_id'))    AS cashier_id_value,
    visitParamExtractString(j, 'customer_id')               AS customer_id,
    multiIf(
        length(raw) > 65536, concat('oversized message: ', toString(length(raw)), ' bytes (limit 65536)'),
        NOT is_flat_object, 'malformed JSON: not one flat JSON object',
        NOT match(visitParamExtractRaw(j, 'event_id'), '^"'), 'event_id: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'event_type'), '^"'), 'event_type: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'event_time'), '^"'), 'event_time: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'product_id'), '^-?[0-9]+$'), 'product_id: missing or not an integer',
        NOT match(visitParamExtractRaw(j, 'product_name'), '^"'), 'product_name: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'category'), '^"'), 'category: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'quantity'), '^-?[0-9]+$'), 'quantity: missing or not an integer',
        NOT match(visitParamExtractRaw(j, 'price'), '^-?[0-9]'), 'price: missing or not a number',
        NOT match(visitParamExtractRaw(j, 'discount'), '^-?[0-9]'), 'discount: missing or not a number',
        NOT match(visitParamExtractRaw(j, 'total'), '^-?[0-9]'), 'total: missing or not a number',
        NOT match(visitParamExtractRaw(j, 'store_id'), '^-?[0-9]+$'), 'store_id: missing or not an integer',
        NOT match(visitParamExtractRaw(j, 'cashier_id'), '^-?[0-9]+$'), 'cashier_id: missing or not an integer',
        NOT match(visitParamExtractRaw(j, 'customer_id'), '^"'), 'customer_id: missing or not a string',
        '') AS parse_error
