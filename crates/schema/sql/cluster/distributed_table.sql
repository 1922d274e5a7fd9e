-- A table's twin over every shard of the cluster, where the page and the checks read it.
-- Rows are only ever inserted into the shards' own tables (by their Kafka tables and the
-- checks), so the sharding key only matters for a user inserting here.
CREATE TABLE {{all_db}}.{{table}} AS {{db}}.{{table}}
ENGINE = Distributed({{cluster}}, {{db}}, {{table}}, rand())
