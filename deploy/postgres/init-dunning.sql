-- Runs once, when the postgresql service initialises an empty data volume
-- (mounted into /docker-entrypoint-initdb.d). Temporal's own databases,
-- temporal and temporal_visibility, are made by the temporal-admin-tools job;
-- this makes the dunning system of record beside them, with its own role.
-- The worker creates the tables (migrations) when it starts.
-- Local development credentials: the port is published on 127.0.0.1 only.
CREATE ROLE dunning WITH LOGIN PASSWORD 'dunning';
CREATE DATABASE dunning OWNER dunning;
