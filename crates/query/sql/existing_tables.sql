SELECT name FROM system.tables WHERE database = {{db:string}} ORDER BY name
