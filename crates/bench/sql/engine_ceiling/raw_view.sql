-- The trivial view: the message as it is, no parsing.
CREATE MATERIALIZED VIEW {{db}}.{{view}} TO {{db}}.{{table}} AS
SELECT raw
FROM {{db}}.{{source}}
