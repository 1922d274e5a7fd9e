-- One row per replayed dead letter: its place, the replayed message's place from the
-- broker's delivery report, its event_id ('' if it has none), 1 if a fixed version was sent.
-- {{rows}}: literal tuples (quoted strings, numbers) rendered by the command.
INSERT INTO {{db}}.dead_letter_replays
    (topic, partition, offset, new_topic, new_partition, new_offset, event_id, fixed)
VALUES {{rows}}
