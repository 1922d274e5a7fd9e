-- Where a trivial view lands the messages: the bytes as read, nothing derived.
CREATE TABLE {{db}}.{{table}}
(
    raw String
)
ENGINE = MergeTree
ORDER BY tuple()
