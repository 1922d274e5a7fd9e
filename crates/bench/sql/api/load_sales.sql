-- Bench data: the sales among numbers {{first}} .. {{first}} + {{count}} of {{events}} events,
-- spread evenly over [{{start}}, {{start}} + {{span}}) seconds. Every field is a hash of the
-- event's number, so a rerun loads the same rows. Shapes follow the generator
-- (crates/generate): 70 % sales, products skewed towards the first ones (r², r uniform),
-- quantity 1..5 weighted 45/25/15/10/5, discounts 0 (4 in 10) or 5..30 %, 10 stores with 2
-- cashiers each, 85 % of sales to 2,000 regular customers (skewed), 15 % to new ones;
-- total = round(price × quantity × (1 − discount), 2), half up, in kopecks.
INSERT INTO {{db}}.sales
    (event_id, event_type, event_time, product_id, product_name, category, quantity,
     price, discount, total, store_id, cashier_id, customer_id)
SELECT
    lower(concat(substring(id1, 1, 8), '-', substring(id1, 9, 4), '-4', substring(id1, 14, 3), '-',
                 substring(id2, 1, 4), '-', substring(id2, 5, 12)))   AS event_id,
    'sale'                                                            AS event_type,
    toDateTime({{start}} + intDiv(n * {{span}}, {{events}}))          AS event_time,
    toUInt32(product_index + 1)                                       AS product_id,
    {{product_names}}[product_index + 1]                              AS product_name,
    {{product_categories}}[product_index + 1]                         AS category,
    toUInt32(multiIf(q_roll < 45, 1, q_roll < 70, 2, q_roll < 85, 3, q_roll < 95, 4, 5)) AS quantity,
    toDecimal32(toString(price_cents / 100), 2)                       AS price,
    toDecimal32(toString(discount_percent / 100), 2)                  AS discount,
    toDecimal32(toString(intDiv(price_cents * quantity * (100 - discount_percent) + 50, 100) / 100), 2) AS total,
    toUInt32(store_id_)                                               AS store_id,
    toUInt32((store_id_ - 1) * 2 + 1 + cityHash64(n, 'cashier') % 2)  AS cashier_id,
    lower(concat(substring(c1, 1, 8), '-', substring(c1, 9, 4), '-4', substring(c1, 14, 3), '-',
                 substring(c2, 1, 4), '-', substring(c2, 5, 12)))     AS customer_id
FROM
(
    SELECT
        n,
        -- 16 hex digits each: the top bit is set so hex() never drops a leading zero.
        hex(bitOr(cityHash64(n, 'id1'), toUInt64(9223372036854775808)))    AS id1,
        hex(bitOr(cityHash64(n, 'id2'), toUInt64(9223372036854775808)))    AS id2,
        toUInt32(floor(pow((cityHash64(n, 'product') % 1000000) / 1000000, 2) * 50)) AS product_index,
        cityHash64(n, 'quantity') % 100                                    AS q_roll,
        toUInt64({{product_prices}}[product_index + 1])                    AS price_cents,
        toUInt64([0, 0, 0, 0, 5, 10, 15, 20, 25, 30][cityHash64(n, 'discount') % 10 + 1]) AS discount_percent,
        1 + cityHash64(n, 'store') % 10                                     AS store_id_,
        if(cityHash64(n, 'new customer') % 100 < 15,
           n + 1000000000000,
           toUInt64(floor(pow((cityHash64(n, 'customer') % 1000000) / 1000000, 2) * 2000))) AS customer_key,
        hex(bitOr(cityHash64(customer_key, 'c1'), toUInt64(9223372036854775808))) AS c1,
        hex(bitOr(cityHash64(customer_key, 'c2'), toUInt64(9223372036854775808))) AS c2
    FROM (SELECT number + {{first}} AS n FROM numbers({{count}}))
    WHERE cityHash64(n, 'mix') % 10 < 7
)
