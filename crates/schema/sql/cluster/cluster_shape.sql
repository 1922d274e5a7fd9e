-- The cluster as this server knows it (its remote_servers): shards and replicas per shard.
SELECT toUInt32(count(DISTINCT shard_num)) AS shards, toUInt32(max(replica_num)) AS replicas
FROM system.clusters
WHERE cluster = {{cluster:string}}
