#!/usr/bin/env bash
# Start a local PostgreSQL for the ledger's tests and print its SQLAlchemy URL, e.g.
#   export LAB_TEST_POSTGRES_URL=$(bash .ci/postgres.sh)
# For Debian/Ubuntu, as root: installs Debian's postgresql if missing, starts the first
# cluster, and creates the role and database `lab_test` (password `lab_test`). Idempotent.
# The tests also need the driver: pip install 'psycopg[binary]'.
set -euo pipefail

NAME=${LAB_TEST_POSTGRES_NAME:-lab_test}

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

if [ -z "$(pg_lsclusters --no-header)" ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -n1)" main >&2
fi
read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n1)
if [ "$status" != "online" ]; then
    pg_ctlcluster "$version" "$cluster" start >&2
fi

as_postgres() { runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@"; }
for _ in $(seq 1 30); do
    as_postgres -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
done
if [ -z "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$NAME'")" ]; then
    as_postgres -c "CREATE ROLE $NAME LOGIN PASSWORD '$NAME'" >&2
fi
if [ -z "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$NAME'")" ]; then
    as_postgres -c "CREATE DATABASE $NAME OWNER $NAME" >&2
fi

echo "postgresql+psycopg://$NAME:$NAME@127.0.0.1:$port/$NAME"
