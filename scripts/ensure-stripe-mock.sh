#!/usr/bin/env bash
# Prints the path of a stripe-mock binary (Stripe's mock API server, which
# checks requests against Stripe's published OpenAPI spec): $STRIPE_MOCK,
# `stripe-mock` on PATH, or bin/stripe-mock, installing the pinned version
# there with `go install` when there is none (cached by Go afterwards).
set -euo pipefail
version=v0.203.0
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${STRIPE_MOCK:-}" ] && [ -x "$STRIPE_MOCK" ]; then
  echo "$STRIPE_MOCK"; exit 0
fi
if command -v stripe-mock >/dev/null 2>&1; then
  command -v stripe-mock; exit 0
fi
if [ -x "$root/bin/stripe-mock" ]; then
  echo "$root/bin/stripe-mock"; exit 0
fi
echo "ensure-stripe-mock: installing stripe-mock $version into $root/bin" >&2
GOBIN="$root/bin" go install "github.com/stripe/stripe-mock@$version" >&2
echo "$root/bin/stripe-mock"
