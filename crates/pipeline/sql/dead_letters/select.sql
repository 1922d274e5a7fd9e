-- Dead letters matching the filters (`pipeline dead-letters list|show|export|replay`), newest
-- first. Every filter value arrives as a quoted literal or a number rendered by the command:
--   {{topic}}, {{reason}}   '' for any; reason matches as a case-insensitive substring;
--   {{since}}, {{until}}    unix seconds, received_at in [since, until);
--   {{all_ids}}             1, or 0 to keep only the (topic, partition, offset) in {{ids}}
--                           (which always holds at least two tuples: a sentinel is added).
-- With each: raw as hex (the bytes need not be UTF-8), replay_of (the dead letter it is a
-- replay of, 'topic:partition:offset', when a replayed message failed again; '' if none),
-- and how often it was replayed itself (dead_letter_replays, migration 0007).
SELECT topic, partition, offset, received AS received_at, reason, raw_hex, replay_of, replays,
       last_replayed_at
FROM
(
    SELECT topic, partition, offset, received, reason, raw_hex, replay_of
    FROM
    (
        SELECT topic, partition, offset, toString(received_at) AS received, reason,
               hex(raw) AS raw_hex
        FROM {{db}}.dead_letter
        WHERE ({{topic}} = '' OR topic = {{topic}})
          AND ({{reason}} = '' OR positionCaseInsensitiveUTF8(reason, {{reason}}) > 0)
          AND received_at >= toDateTime({{since}})
          AND received_at < toDateTime({{until}})
          AND ({{all_ids}} = 1 OR (topic, partition, offset) IN ({{ids}}))
    ) AS letters
    ANY LEFT JOIN
    (
        SELECT new_topic AS topic, new_partition AS partition, new_offset AS offset, replay_of
        FROM
        (
            SELECT new_topic, new_partition, new_offset,
                   concat(topic, ':', toString(partition), ':', toString(offset)) AS replay_of
            FROM {{db}}.dead_letter_replays
        ) AS sent
    ) AS origins USING (topic, partition, offset)
) AS located
ANY LEFT JOIN
(
    SELECT topic, partition, offset, toUInt64(count()) AS replays,
           toString(max(replayed_at)) AS last_replayed_at
    FROM {{db}}.dead_letter_replays
    GROUP BY topic, partition, offset
) AS replayed USING (topic, partition, offset)
ORDER BY received_at DESC, topic, partition, offset
LIMIT {{limit}}
