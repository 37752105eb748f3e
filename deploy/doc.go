// Package deploy holds what runs the dunning system under Docker Compose
// (../docker-compose.yml, ../Dockerfile): the Temporal schema and namespace
// scripts, Temporal's dynamic config and the PostgreSQL init script. Its
// tests load the compose file with the compose-spec library and check the
// wiring the system relies on, since the stack itself needs a Docker engine.
package deploy
