-- Deletes dead letters older than the retention period ({{before}}: unix seconds). A
-- mutation on every version (18.16 included); the command waits for it (purge_pending.sql).
ALTER TABLE {{db}}.dead_letter DELETE WHERE received_at < toDateTime({{before}})
