-- The tables (and views) of a database.
SELECT name FROM system.tables WHERE database = {{db:string}}
