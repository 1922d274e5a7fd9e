-- The original demo's two target tables, column for column, so a database it created
-- (or rows users already have) stays readable. Money is Decimal, exact to the cent.
CREATE TABLE IF NOT EXISTS {{db}}.sales
(
    event_id        String,
    event_type      String,
    event_time      DateTime,
    product_id      UInt32,
    product_name    String,
    category        String,
    quantity        UInt32,
    price           Decimal32(2),
    discount        Decimal32(2),
    total           Decimal32(2),
    store_id        UInt32,
    cashier_id      UInt32,
    customer_id     String,
    processing_time DateTime DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, product_id);

CREATE TABLE IF NOT EXISTS {{db}}.stock_movements
(
    event_id        String,
    event_type      String,
    event_time      DateTime,
    product_id      UInt32,
    product_name    String,
    category        String,
    warehouse       String,
    quantity        UInt32,
    movement_type   String,
    source          String,
    responsible     String,
    processing_time DateTime DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, product_id);
