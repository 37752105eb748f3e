#!/bin/sh
# One-shot job of docker-compose.yml (service temporal-create-namespace, image
# temporalio/admin-tools): waits for the Temporal server, creates the
# namespace when it is missing, and registers the custom search attributes
# the dunning workflows set, so that the UI can filter on them before the
# worker has ever started. The worker registers any that are missing too.
# Safe to run again: what exists is left as it is.
#
# Settings (environment):
#   TEMPORAL_ADDRESS   host:port of the frontend (temporal:7233)
#   NAMESPACE          namespace to create (default)
#   RETENTION          workflow history retention of a new namespace (72h)
#   SEARCH_ATTRIBUTES  space-separated Name=Type pairs
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${NAMESPACE:=default}"
: "${RETENTION:=72h}"
: "${SEARCH_ATTRIBUTES:=}"

host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}

echo "create-namespace: waiting for Temporal at $host:$port"
tries=0
until nc -z -w 5 "$host" "$port"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "create-namespace: nothing answers at $host:$port" >&2
    exit 1
  fi
  sleep 2
done

# Talk to the server by its IPv4 address: the container may resolve the
# name to an IPv6 address the server does not listen on (BIND_ON_IP=0.0.0.0).
ip=$(getent ahosts "$host" 2>/dev/null | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }') || ip=
address=${ip:-$host}:$port

tries=0
until temporal operator cluster health --address "$address"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "create-namespace: Temporal at $address is not healthy" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" >/dev/null 2>&1; then
  echo "create-namespace: namespace $NAMESPACE exists"
else
  echo "create-namespace: creating namespace $NAMESPACE"
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$address"
fi

existing=$(temporal operator search-attribute list --namespace "$NAMESPACE" --address "$address" --output json)
for pair in $SEARCH_ATTRIBUTES; do
  name=${pair%%=*}
  type=${pair#*=}
  if [ -z "$name" ] || [ "$name" = "$pair" ] || [ -z "$type" ]; then
    echo "create-namespace: bad search attribute '$pair' (want Name=Type)" >&2
    exit 2
  fi
  case $existing in
  *"\"$name\""*)
    echo "create-namespace: search attribute $name exists"
    ;;
  *)
    echo "create-namespace: creating search attribute $name ($type)"
    temporal operator search-attribute create --namespace "$NAMESPACE" \
      --name "$name" --type "$type" --address "$address"
    ;;
  esac
done
echo "create-namespace: done"
