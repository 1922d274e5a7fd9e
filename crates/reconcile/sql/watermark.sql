-- The watermark only grows, so the highest recorded is the current one.
SELECT toInt64(max(max_block)) AS max_block
FROM {{db}}.reconcile_state
WHERE table = {{key}}
