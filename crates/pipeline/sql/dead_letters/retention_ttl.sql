-- Servers with table TTLs (not 18.16): dead letters expire {{days}} days after they
-- arrived (migration 0007 sets 30).
ALTER TABLE {{db}}.dead_letter MODIFY TTL received_at + INTERVAL {{days}} DAY
