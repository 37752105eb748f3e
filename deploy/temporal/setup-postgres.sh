#!/bin/sh
# One-shot job of docker-compose.yml (service temporal-admin-tools, image
# temporalio/admin-tools): creates Temporal's two PostgreSQL databases and
# brings their schemas to the version the admin-tools image ships. Safe to run
# again on every `docker compose up`: existing databases are kept and only
# missing schema versions are applied.
#
# Settings (environment): POSTGRES_SEEDS (host), DB_PORT, POSTGRES_USER,
# POSTGRES_PWD, DBNAME, VISIBILITY_DBNAME, SCHEMA_DIR.
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${POSTGRES_PWD:=}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
: "${SCHEMA_DIR:=/etc/temporal/schema/postgresql/v12}"

# temporal-sql-tool reads the password from SQL_PASSWORD.
SQL_PASSWORD=$POSTGRES_PWD
export SQL_PASSWORD

echo "setup-postgres: waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"
tries=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "setup-postgres: PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not answer" >&2
    exit 1
  fi
  sleep 2
done

sql_tool() { # database, then the temporal-sql-tool command
  db=$1
  shift
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" --db "$db" "$@"
}

setup_db() { # database, versioned schema directory
  echo "setup-postgres: database $1 (schema $2)"
  sql_tool "$1" create
  sql_tool "$1" setup-schema -v 0.0
  sql_tool "$1" update-schema -d "$2"
}

setup_db "$DBNAME" "$SCHEMA_DIR/temporal/versioned"
setup_db "$VISIBILITY_DBNAME" "$SCHEMA_DIR/visibility/versioned"
echo "setup-postgres: done"
