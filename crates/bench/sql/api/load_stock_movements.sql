-- Bench data: the stock movements among numbers {{first}} .. {{first}} + {{count}} of
-- {{events}} events (the 30 % that are not sales; see load_sales.sql for the time spread).
-- Products skewed as the generator's, 6 warehouses, supply 50 % / relocation 30 % /
-- write-off 20 %, quantity 1..100, a supplier and a person from the catalogue.
INSERT INTO {{db}}.stock_movements
    (event_id, event_type, event_time, product_id, product_name, category, warehouse,
     quantity, movement_type, source, responsible)
SELECT
    lower(concat(substring(id1, 1, 8), '-', substring(id1, 9, 4), '-4', substring(id1, 14, 3), '-',
                 substring(id2, 1, 4), '-', substring(id2, 5, 12)))   AS event_id,
    'stock_movement'                                                  AS event_type,
    toDateTime({{start}} + intDiv(n * {{span}}, {{events}}))          AS event_time,
    toUInt32(product_index + 1)                                       AS product_id,
    {{product_names}}[product_index + 1]                              AS product_name,
    {{product_categories}}[product_index + 1]                         AS category,
    {{warehouses}}[cityHash64(n, 'warehouse') % {{warehouse_count}} + 1] AS warehouse,
    toUInt32(1 + cityHash64(n, 'quantity') % 100)                     AS quantity,
    multiIf(m_roll < 5, 'supply', m_roll < 8, 'relocation', 'write_off') AS movement_type,
    {{suppliers}}[cityHash64(n, 'source') % {{supplier_count}} + 1]   AS source,
    {{staff}}[cityHash64(n, 'responsible') % {{staff_count}} + 1]     AS responsible
FROM
(
    SELECT
        n,
        hex(bitOr(cityHash64(n, 'id1'), toUInt64(9223372036854775808)))    AS id1,
        hex(bitOr(cityHash64(n, 'id2'), toUInt64(9223372036854775808)))    AS id2,
        toUInt32(floor(pow((cityHash64(n, 'product') % 1000000) / 1000000, 2) * 50)) AS product_index,
        cityHash64(n, 'movement') % 10                                     AS m_roll
    FROM (SELECT number + {{first}} AS n FROM numbers({{count}}))
    WHERE cityHash64(n, 'mix') % 10 >= 7
)
