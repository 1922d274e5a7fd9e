-- A fresh database for one engine-ceiling variant.
CREATE DATABASE IF NOT EXISTS {{db}}
