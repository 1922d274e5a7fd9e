-- Refused warehouse messages → dead_letter (see sales_dead_letter_mv.sql).
CREATE MATERIALIZED VIEW {{db}}.{{name}} TO {{db}}.dead_letter AS
{{with}}
SELECT
    now()           AS received_at,
    message_topic     AS topic,
    message_partition AS partition,
    message_offset    AS offset,
    raw,
    reject_reason   AS reason
FROM {{from}}
WHERE reject_reason != '';
