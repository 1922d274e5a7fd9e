-- Answers only where the server has Keeper (or ZooKeeper) configured.
SELECT count() FROM system.zookeeper WHERE path = '/'
