// Package deploy holds what runs the dunning system under Docker Compose
// (../docker-compose.yml, ../Dockerfile): the Temporal schema and namespace
// scripts, Temporal's dynamic config and the PostgreSQL init script; and on
// Kubernetes (k8s/: Kustomize manifests for the worker, with the schemas
// they are validated against). Its tests load the compose file with the
// compose-spec library, render the manifests with kustomize and validate
// them with kubeconform, and check the wiring the system relies on, since
// neither a Docker engine nor a cluster runs here.
package deploy
