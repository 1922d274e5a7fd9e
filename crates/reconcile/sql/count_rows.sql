-- Rows of a ledger or corrections table (before and after a pass: what it wrote).
SELECT toUInt64(count()) AS n FROM {{db}}.{{table}}
