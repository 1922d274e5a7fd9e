-- The sales fields from either reader (sales_raw.sql, sales_stream.sql), with the contract's
-- rules: reject_reason is '' for an event that becomes a row, else why it was refused.
-- Conversions in the views that read this never fail on a row whose reason is ''.
{{event_time}} AS event_time,
    multiIf(
        parse_error != '', parse_error,
        event_id = '', 'event_id: empty',
        length(event_id) > 64, 'event_id: longer than 64 bytes',
        event_type != 'sale', concat('event_type: expected "sale", got "', substring(event_type, 1, 64), '"'),
        event_time = toDateTime(0), 'event_time: not a valid YYYY-MM-DD HH:MM:SS time',
        event_time > now() + 86400, 'event_time: more than a day in the future',
        product_id_value < 1 OR product_id_value > 4294967295, 'product_id: out of range',
        product_name = '' OR length(product_name) > 256, 'product_name: empty or longer than 256 bytes',
        category = '' OR length(category) > 256, 'category: empty or longer than 256 bytes',
        quantity_value < 1, 'quantity: must be at least 1',
        quantity_value > 1000000, 'quantity: more than 1000000',
        NOT (price_value > 0), 'price: must be positive',
        price_value > 1000000, 'price: more than 1000000',
        NOT (discount_value >= 0 AND discount_value < 1), 'discount: must be in [0, 1)',
        NOT (total_value >= 0 AND round(total_value, 2) <= 9999999.99), 'total: must be in [0, 9999999.99]',
        store_id_value < 0 OR store_id_value > 4294967295, 'store_id: out of range',
        cashier_id_value < 0 OR cashier_id_value > 4294967295, 'cashier_id: out of range',
        length(customer_id) > 64, 'customer_id: longer than 64 bytes',
        '') AS reject_reason
