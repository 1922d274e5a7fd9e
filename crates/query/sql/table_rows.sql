-- Events per target table, each counted once: the extra copies of events the Kafka engine
-- delivered twice, recorded by the reconcile loop in the *_duplicates ledgers, are taken off.
-- @if distributed
-- Over a cluster's Distributed tables: each shard counts its own (from metadata on current
-- servers, the smallest column on 18.16).
SELECT 'sales' AS table,
       toUInt64(greatest(
           (SELECT toInt64(count()) FROM {{db}}.sales)
         - (SELECT toInt64(sum(copies_removed)) FROM {{db}}.sales_duplicates), 0)) AS rows
UNION ALL
SELECT 'stock_movements' AS table,
       toUInt64(greatest(
           (SELECT toInt64(count()) FROM {{db}}.stock_movements)
         - (SELECT toInt64(sum(copies_removed)) FROM {{db}}.stock_movements_duplicates), 0)) AS rows
-- @else
-- Rows come from part metadata, instant whatever the table's size.
SELECT 'sales' AS table,
       toUInt64(greatest(
           (SELECT toInt64(sum(rows)) FROM system.parts
            WHERE database = {{db:string}} AND active AND table = 'sales')
         - (SELECT toInt64(sum(copies_removed)) FROM {{db}}.sales_duplicates), 0)) AS rows
UNION ALL
SELECT 'stock_movements' AS table,
       toUInt64(greatest(
           (SELECT toInt64(sum(rows)) FROM system.parts
            WHERE database = {{db:string}} AND active AND table = 'stock_movements')
         - (SELECT toInt64(sum(copies_removed)) FROM {{db}}.stock_movements_duplicates), 0)) AS rows
-- @endif
