-- The warehouse fields from either reader, with the contract's rules (see sales.sql).
{{event_time}} AS event_time,
    multiIf(
        parse_error != '', parse_error,
        event_id = '', 'event_id: empty',
        length(event_id) > 64, 'event_id: longer than 64 bytes',
        event_type != 'stock_movement', concat('event_type: expected "stock_movement", got "', substring(event_type, 1, 64), '"'),
        event_time = toDateTime(0), 'event_time: not a valid YYYY-MM-DD HH:MM:SS time',
        event_time > now() + 86400, 'event_time: more than a day in the future',
        product_id_value < 1 OR product_id_value > 4294967295, 'product_id: out of range',
        product_name = '' OR length(product_name) > 256, 'product_name: empty or longer than 256 bytes',
        length(category) > 256, 'category: longer than 256 bytes',
        warehouse = '' OR length(warehouse) > 256, 'warehouse: empty or longer than 256 bytes',
        quantity_value < 1, 'quantity: must be at least 1',
        quantity_value > 1000000, 'quantity: more than 1000000',
        movement_type NOT IN ('supply', 'relocation', 'write_off'), concat('movement_type: expected supply, relocation or write_off, got "', substring(movement_type, 1, 64), '"'),
        length(source) > 256 OR length(responsible) > 256, 'source or responsible: longer than 256 bytes',
        '') AS reject_reason
