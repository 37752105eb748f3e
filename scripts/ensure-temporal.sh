#!/usr/bin/env bash
# Prints the path of a Temporal CLI: $TEMPORAL_CLI, `temporal` on PATH, or
# bin/temporal, installing the pinned version there with `go install` when
# there is none (a few minutes the first time; cached by Go afterwards).
set -euo pipefail
version=v1.5.1
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${TEMPORAL_CLI:-}" ] && [ -x "$TEMPORAL_CLI" ]; then
  echo "$TEMPORAL_CLI"; exit 0
fi
if command -v temporal >/dev/null 2>&1; then
  command -v temporal; exit 0
fi
if [ -x "$root/bin/temporal" ]; then
  echo "$root/bin/temporal"; exit 0
fi
echo "ensure-temporal: installing the Temporal CLI $version into $root/bin (a few minutes the first time)" >&2
GOBIN="$root/bin" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2
echo "$root/bin/temporal"
