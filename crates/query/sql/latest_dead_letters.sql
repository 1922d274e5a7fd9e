-- The page's dead-letter panel: the latest 50 refused messages, newest first. The raw
-- message may be anything (invalid UTF-8, binary, 100 KB): only its first 800 bytes are
-- read, as hex, and serve turns them into at most 200 characters of text.
SELECT toUInt32(received_at)        AS received_at,
       topic,
       partition,
       offset,
       reason,
       hex(substring(raw, 1, 800))  AS raw_hex,
       toUInt64(length(raw))        AS bytes
FROM {{db}}.dead_letter
ORDER BY received_at DESC, topic, partition, offset DESC
LIMIT 50
