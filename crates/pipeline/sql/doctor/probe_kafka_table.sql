-- A throwaway Kafka table in `default` (so the check works before the schema exists): can
-- the server itself reach the brokers and read the probe message back?
CREATE TABLE default.{{table}} (marker String)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{brokers}},
    kafka_topic_list = {{topic}},
    kafka_group_name = {{group}},
    kafka_format = 'JSONEachRow'
