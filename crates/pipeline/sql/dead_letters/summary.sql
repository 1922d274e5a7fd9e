-- Per topic, for `pipeline audit`: dead letters, and of them
--   replayed_landed: resolved by a replay that landed (its event_id is in sales or
--     stock_movements): a replay of this dead letter, or of the one it is itself a replay of
--     (a replay refused first, then replayed fixed from the original);
--   failed_again: replayed and refused again, not resolved: the refused replay is a newer
--     dead letter (counted too, open until resolved).
-- The rest are still open.
-- GLOBAL IN: in cluster mode these tables are Distributed, and a subquery over a
-- Distributed table inside one is refused (distributed_product_mode); on one server GLOBAL
-- changes nothing.
SELECT topic,
       toUInt64(count()) AS dead_letters,
       toUInt64(countIf(landed = 1 OR origin_landed = 1)) AS replayed_landed,
       toUInt64(countIf(landed = 0 AND origin_landed = 0 AND failed_again = 1)) AS failed_again
FROM
(
    SELECT topic, partition, offset, landed, failed_again
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
                   toUInt8(event_id != '' AND event_id GLOBAL IN
                       (SELECT event_id FROM {{db}}.sales
                        UNION ALL
                        SELECT event_id FROM {{db}}.stock_movements)) AS landed,
                   toUInt8((new_topic, new_partition, new_offset) GLOBAL IN
                       (SELECT topic, partition, offset FROM {{db}}.dead_letter)) AS failed
            FROM {{db}}.dead_letter_replays
        ) AS each_replay
        GROUP BY topic, partition, offset
    ) AS outcomes USING (topic, partition, offset)
) AS own
ANY LEFT JOIN
(
    -- Refused replays whose origin was later replayed and landed.
    SELECT new_topic AS topic, new_partition AS partition, new_offset AS offset,
           toUInt8(1) AS origin_landed
    FROM
    (
        SELECT new_topic, new_partition, new_offset
        FROM {{db}}.dead_letter_replays
        WHERE (topic, partition, offset) GLOBAL IN
            (SELECT topic, partition, offset
             FROM {{db}}.dead_letter_replays
             WHERE event_id != '' AND event_id GLOBAL IN
                 (SELECT event_id FROM {{db}}.sales
                  UNION ALL
                  SELECT event_id FROM {{db}}.stock_movements))
    ) AS refused
) AS origins USING (topic, partition, offset)
GROUP BY topic
