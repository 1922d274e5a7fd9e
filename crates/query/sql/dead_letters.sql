-- Dead letters per topic (a small table: only refused messages land there).
SELECT topic, toUInt64(count()) AS rows
FROM {{db}}.dead_letter
GROUP BY topic
