-- Per topic, for `pipeline audit`: dead letters, and of them those replayed whose message
-- landed (its event_id is in sales or stock_movements) and those replayed whose message was
-- refused again (it is itself a dead letter now, at its new place, and counted as such).
-- The rest are still open.
SELECT topic,
       toUInt64(count()) AS dead_letters,
       toUInt64(countIf(landed = 1)) AS replayed_landed,
       toUInt64(countIf(landed = 0 AND failed_again = 1)) AS failed_again
FROM
(
    SELECT topic, partition, offset FROM {{db}}.dead_letter
) AS letters
ANY LEFT JOIN
(
    SELECT topic, partition, offset, max(landed) AS landed, max(failed) AS failed_again
    FROM
    (
        SELECT topic, partition, offset,
               toUInt8(event_id != '' AND event_id IN
                   (SELECT event_id FROM {{db}}.sales
                    UNION ALL
                    SELECT event_id FROM {{db}}.stock_movements)) AS landed,
               toUInt8((new_topic, new_partition, new_offset) IN
                   (SELECT topic, partition, offset FROM {{db}}.dead_letter)) AS failed
        FROM {{db}}.dead_letter_replays
    ) AS each_replay
    GROUP BY topic, partition, offset
) AS outcomes USING (topic, partition, offset)
GROUP BY topic
