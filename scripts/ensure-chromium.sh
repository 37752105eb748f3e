#!/usr/bin/env bash
# Prints the path of a Chromium for the console's browser tests: $CHROMIUM,
# else Debian's chromium, installing the package with apt-get (as root, or
# with sudo) when it is missing.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
  echo "$CHROMIUM"; exit 0
fi
for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null 2>&1; then
    command -v "$c"; exit 0
  fi
done
echo "ensure-chromium: installing Debian's chromium" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
command -v chromium
