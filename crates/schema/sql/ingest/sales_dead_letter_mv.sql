-- Refused sales messages → dead_letter, with the bytes exactly as produced (every reader
-- keeps the whole message as `raw`) and the reason.
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
