INSERT INTO {{db}}.reconcile_state (table, max_block, updated_at)
VALUES ({{table_name}}, {{watermark}}, now())
