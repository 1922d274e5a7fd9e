-- The verifier's offsets for one topic: every message below is in a table or a dead letter.
SELECT toInt32(replaceRegexpOne(table, '^.*:', '')) AS partition, toInt64(max(max_block)) AS verified
FROM {{db}}.reconcile_state
WHERE startsWith(table, {{prefix}})
GROUP BY table
