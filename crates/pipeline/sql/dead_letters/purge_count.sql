-- Dead letters older than the retention period ({{before}}: unix seconds).
SELECT toUInt64(count()) AS rows FROM {{db}}.dead_letter WHERE received_at < toDateTime({{before}})
