-- The offsets of one partition's range that are already dead letters (the replay door
-- writes them with their offsets).
SELECT DISTINCT offset
FROM {{db}}.dead_letter
WHERE topic = {{topic}}
  AND partition = {{partition}}
  AND offset >= {{from_offset}}
  AND offset < {{to_offset}}
