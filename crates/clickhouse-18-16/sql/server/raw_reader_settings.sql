-- The settings the 18.16 raw-line reader needs from the profile the Kafka engine runs with
-- (the server's <default_profile>); read by running this query under that profile.
SELECT name, value
FROM system.settings
WHERE name IN ('format_csv_delimiter', 'format_csv_allow_single_quotes', 'format_csv_allow_double_quotes')
ORDER BY name
