-- Parts of the table that may hold blocks the rollup check has not looked at: above its
-- watermark, and fresh single-block parts a little below it (a slow insert can take its
-- block number before a faster one commits).
SELECT name, toInt64(min_block_number) AS min_block, toInt64(max_block_number) AS max_block,
       toUInt32(level) AS level
FROM system.parts
WHERE database = {{db:string}} AND table = {{table:string}} AND active
  AND (max_block_number > {{watermark}} OR (level = 0 AND max_block_number > {{watermark}} - 16))
