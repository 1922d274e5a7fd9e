-- The verifier's offsets after a pass, every partition it moved in one insert (one part).
INSERT INTO {{db}}.reconcile_state (table, max_block, updated_at)
VALUES {{rows}}
