-- A raw message (18.16's Kafka table, or a rescued one) → the warehouse fields, or why not.
-- Same rules as sales_raw.sql.
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
    visitParamExtractString(j, 'warehouse')                 AS warehouse,
    toInt64OrZero(visitParamExtractRaw(j, 'quantity'))      AS quantity_value,
    visitParamExtractString(j, 'movement_type')             AS movement_type,
    visitParamExtractString(j, 'source')                    AS source,
    visitParamExtractString(j, 'responsible')               AS responsible,
    multiIf(
        length(raw) > 65536, concat('oversized message: ', toString(length(raw)), ' bytes (limit 65536)'),
        NOT is_flat_object, 'malformed JSON: not one flat JSON object',
        NOT match(visitParamExtractRaw(j, 'event_id'), '^"'), 'event_id: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'event_type'), '^"'), 'event_type: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'event_time'), '^"'), 'event_time: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'product_id'), '^-?[0-9]+$'), 'product_id: missing or not an integer',
        NOT match(visitParamExtractRaw(j, 'product_name'), '^"'), 'product_name: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'category'), '^"'), 'category: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'warehouse'), '^"'), 'warehouse: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'quantity'), '^-?[0-9]+$'), 'quantity: missing or not an integer',
        NOT match(visitParamExtractRaw(j, 'movement_type'), '^"'), 'movement_type: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'source'), '^"'), 'source: missing or not a string',
        NOT match(visitParamExtractRaw(j, 'responsible'), '^"'), 'responsible: missing or not a string',
        '') AS parse_error
