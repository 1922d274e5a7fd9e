-- Positions of the reconcile loops (verified offsets, rollup-check watermarks), several in
-- one insert (one part).
INSERT INTO {{db}}.reconcile_state (table, max_block, updated_at)
VALUES {{rows}}
