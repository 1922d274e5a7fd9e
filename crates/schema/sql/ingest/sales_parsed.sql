-- Current servers: every sales message, parsed once and checked (sales_parse_mv), on its way to
-- the views that read it: sales_mv (accepted → sales, whose own views fill the rollups) and
-- sales_dead_letter_mv (refused → dead_letter). A Null table keeps nothing.
-- It is a fan-out: the Kafka table has one view, created last, so the Kafka table streams
-- only once every view downstream exists, and a block can never reach some of them only.
CREATE TABLE {{db}}.sales_parsed
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
    quantity_value       Int64,
    price_value          Float64,
    discount_value       Float64,
    total_value          Float64,
    store_id_value       Int64,
    cashier_id_value     Int64,
    customer_id          String,
    reject_reason        String
)
ENGINE = Null;
