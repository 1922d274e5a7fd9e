-- Current servers: one message of a Kafka table read whole, where it came from, and whether
-- it is one flat JSON object (what both readers accept: a value may not be an object or an
-- array). The error stream mode hands over a message the format could not read with _error
-- and _raw_message; RawBLOB reads any bytes, so that is only a safeguard.
SELECT
    message AS raw,
    read_error,
    message_topic,
    message_partition,
    message_offset,
    message_timestamp_ms,
    -- Valid JSON, an object, and no brace or bracket outside its strings but its own (a
    -- regular expression is a quarter of the cost of looking at every value's type).
    JSONType(message) = 'Object'
        AND match(message, '^[^"{}\\[\\]]*\\{(?:[^"{}\\[\\]]|"(?:[^"\\\\]|\\\\.)*")*\\}[^"{}\\[\\]]*$')
        AS is_flat_object,
    if(is_flat_object, message, '{}') AS j
FROM (
    SELECT
        if(_error = '', raw, _raw_message) AS message,
        _error AS read_error,
        {{metadata}}
    FROM {{db}}.{{source}}
)
