-- Current servers: every warehouse message, parsed once and checked (warehouse_parse_mv), on its
-- way to stock_movements_mv and warehouse_dead_letter_mv. See sales_parsed.sql.
CREATE TABLE {{db}}.warehouse_parsed
(
    raw                  String,
    message_topic        String,
    message_partition    Int32,
    message_offset       Int64,
    message_timestamp_ms Int64,
    event_id             String,
    event_type           String,
    event_time           DateTime,
    event_time_text      String,
    product_id_value     Int64,
    product_name         String,
    category             String,
    warehouse            String,
    quantity_value       Int64,
    movement_type        String,
    source               String,
    responsible          String,
    reject_reason        String
)
ENGINE = Null;
