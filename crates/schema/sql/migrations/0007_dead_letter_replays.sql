-- Dead letters sent back to their topic by `pipeline dead-letters replay`
-- (crates/pipeline/src/commands/dead_letters.rs): one row per message sent. The original
-- dead letter's place (topic, partition, offset: unique per message, the dead letter's id),
-- the place the broker's delivery report gave the replayed message (a new message at a new
-- offset), its event_id where it has one (to tell whether it landed), and whether it was a
-- fixed version (`--fixed`) or the original bytes. A replayed message that fails again is a
-- new dead letter at (new_topic, new_partition, new_offset); joined on those it points to
-- the first.
CREATE TABLE IF NOT EXISTS {{db}}.dead_letter_replays
(
    replayed_at   DateTime DEFAULT now(),
    topic         String,
    partition     Int32,
    offset        Int64,
    new_topic     String,
    new_partition Int32,
    new_offset    Int64,
    event_id      String,
    fixed         UInt8
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(replayed_at)
ORDER BY (topic, partition, offset);

-- Retention: dead letters expire 30 days after they arrived, by themselves
-- (`pipeline dead-letters purge --retention-days N` sets another period). 18.16 has no TTL:
-- its text of this migration (crates/clickhouse-18-16/sql/migrations/) leaves this out, and
-- `pipeline up` deletes old dead letters itself every hour.
ALTER TABLE {{db}}.dead_letter MODIFY TTL received_at + INTERVAL 30 DAY;
