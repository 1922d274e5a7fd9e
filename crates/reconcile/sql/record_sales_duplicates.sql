-- Records, for each event delivered more than once in the range, the copies not yet
-- recorded. The ledger's view then subtracts them from the rollups (one INSERT: the
-- record and the correction go together). Re-running it records nothing new.
-- The subqueries are named: current servers refuse an unnamed one in a JOIN
-- (joined_subquery_requires_alias).
INSERT INTO {{db}}.sales_duplicates
    (event_id, event_time, product_id, category, quantity, total, copies_removed)
SELECT event_id, first_event_time, first_product_id, first_category, first_quantity, first_total, extra - removed
FROM
(
    SELECT event_id, any(event_time) AS first_event_time, any(product_id) AS first_product_id,
           any(category) AS first_category, any(quantity) AS first_quantity, any(total) AS first_total,
           toInt64(count() - 1) AS extra
    FROM {{read_db}}.sales
    WHERE event_time >= toDateTime({{lo}}) AND event_time <= toDateTime({{hi}})
    GROUP BY event_id
    HAVING count() > 1
) AS copies
ANY LEFT JOIN
(
    SELECT event_id, sum(copies_removed) AS removed
    FROM {{read_db}}.sales_duplicates
    WHERE event_time >= toDateTime({{lo}}) AND event_time <= toDateTime({{hi}})
    GROUP BY event_id
) AS recorded USING event_id
WHERE extra > removed
