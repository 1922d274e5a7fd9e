-- Parts of {{table}} holding blocks the duplicate check has not seen. Block numbers only grow
-- with each insert; a few below the watermark are looked at again, in case a slow insert
-- took its number before a faster one committed (re-checking is harmless).
SELECT name, toInt64(max_block_number) AS max_block
FROM system.parts
WHERE database = {{db:string}} AND table = {{table:string}} AND active
  AND max_block_number > {{watermark}} - 16
