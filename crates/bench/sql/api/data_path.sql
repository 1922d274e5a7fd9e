-- Where ClickHouse keeps the bench's raw rows (18.16's system.tables.data_path), for the
-- free-space check before a load.
SELECT data_path FROM system.tables WHERE database = {{db:string}} AND name = 'sales'
