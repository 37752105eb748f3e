# syntax=docker/dockerfile:1
#
# Image with both programs: the worker (the entrypoint) and the billing staff's
# CLI, starter. Build: docker build -t dunning .
# Run the CLI from it: docker run --rm --entrypoint starter dunning --help

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
# The image may hold an older 1.26 patch than go.mod's go line asks for: let
# the go command fetch that toolchain instead of failing.
ENV GOTOOLCHAIN=auto
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binaries (no cgo), without local paths or VCS stamps in them.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" \
      -o /out/ ./worker ./starter

# distroless/static: CA certificates (for SendGrid over HTTPS), tzdata and a
# non-root user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/starter /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/worker"]
