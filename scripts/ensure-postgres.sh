#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests and the demo, and
# says what it did:
#   - DUNNING_TEST_ADMIN_URL or DATABASE_URL set: only checks that it answers;
#   - else 127.0.0.1:5432 answering: uses it;
#   - else a Debian cluster installed but stopped: starts it;
#   - else (as root, with apt-get): installs PostgreSQL, starts it, and lets
#     local TCP connections in without a password (a development machine).
set -euo pipefail
say() { echo "ensure-postgres: $*" >&2; }

answers() { # host port
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$1" -p "$2" -t 2
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

url=${DUNNING_TEST_ADMIN_URL:-${DATABASE_URL:-}}
if [ -n "$url" ]; then
  hostport=$(echo "$url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')
  host=${hostport%:*}; port=${hostport##*:}
  [ "$port" = "$hostport" ] && port=5432
  if answers "$host" "$port"; then say "using the server at $host:$port from the environment"; exit 0; fi
  say "the server at $host:$port (from DUNNING_TEST_ADMIN_URL/DATABASE_URL) does not answer"; exit 1
fi

if answers 127.0.0.1 5432; then say "PostgreSQL is running on 127.0.0.1:5432"; exit 0; fi

start_cluster() {
  local ver
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$ver" ] || return 1
  say "starting the installed PostgreSQL $ver cluster"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster "$ver" main start
  for _ in $(seq 1 30); do answers 127.0.0.1 5432 && return 0; sleep 1; done
  return 1
}

if command -v pg_ctlcluster >/dev/null 2>&1 && start_cluster; then
  say "PostgreSQL started on 127.0.0.1:5432"; exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "no PostgreSQL on 127.0.0.1:5432 and cannot install one here (needs root and apt-get)."
  say "Install PostgreSQL 13+ and allow local connections, or set DUNNING_TEST_ADMIN_URL / DATABASE_URL."
  exit 1
fi
say "installing PostgreSQL with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq postgresql >&2
ver=$(ls /etc/postgresql | sort -V | tail -1)
hba=/etc/postgresql/$ver/main/pg_hba.conf
if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
  say "allowing passwordless TCP connections from 127.0.0.1 in $hba (development machine)"
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
start_cluster || { say "PostgreSQL did not start"; exit 1; }
say "PostgreSQL $ver installed and running on 127.0.0.1:5432"
