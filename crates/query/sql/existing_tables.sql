SELECT name FROM system.tables WHERE database = {{db_name}} ORDER BY name
