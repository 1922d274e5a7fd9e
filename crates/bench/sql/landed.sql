-- Rows the Kafka engine has landed in the two target tables of one bench database.
SELECT
    (SELECT count() FROM {{db}}.sales) AS sales,
    (SELECT count() FROM {{db}}.stock_movements) AS stock_movements
