-- The sales_by_minute rollup from the bench's sales rows with event_time in [{{from}}, {{to}}):
-- migration 0004's back-fill, one time window at a time (windows are whole minutes, so a
-- minute's groups come from one INSERT) to bound 18.16's memory.
INSERT INTO {{db}}.sales_by_minute
SELECT
    toStartOfMinute(event_time) AS minute,
    category,
    product_id,
    sumState(toInt64(1)),
    sumState(toInt64(quantity)),
    sumState(toDecimal64(total, 2)),
    uniqExactState(customer_id)
FROM
(
    SELECT * FROM {{db}}.sales
    WHERE event_time >= toDateTime({{from}}) AND event_time < toDateTime({{to}})
    LIMIT 1 BY event_id
)
GROUP BY minute, category, product_id
