SELECT count() AS n FROM system.databases WHERE name = {{db:string}}
