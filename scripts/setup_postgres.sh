#!/usr/bin/env bash
# A private PostgreSQL server on a loopback port, for the PostgreSQL journal's tests,
# benchmarks and notebooks. Idempotent: quick when the server is already up.
#
#   bash scripts/setup_postgres.sh           # install if missing, start, print the URL
#   bash scripts/setup_postgres.sh --stop    # stop the server this script started
#
# 1. Installs Debian's `postgresql` (server and client) with apt when no server binaries
#    are found under /usr/lib/postgresql/*/bin.
# 2. Creates a cluster in $POLOS_PG_ROOT/data (default /tmp/polos_nb-postgres) with
#    `initdb` (as the `postgres` user when run as root: PostgreSQL refuses to run as root),
#    trust authentication, listening on 127.0.0.1:$POLOS_PG_PORT only (default 55433), its
#    Unix socket in $POLOS_PG_ROOT (nothing under /var/run).
# 3. Starts it with `pg_ctl` and waits until it accepts connections. Several checkouts on
#    one machine share this one server; each test creates its own database in it.
# 4. Prints `postgresql://postgres@127.0.0.1:PORT/postgres` as its only line of stdout and
#    writes `POLOS_TEST_POSTGRES_URL=...` to $POLOS_PG_ROOT/env and .cache/postgres.env,
#    where the tests read it.
#
# Nothing here touches a system cluster (pg_lsclusters' `15 main`) or the network beyond
# loopback. The server runs with fsync on, as a user's would.
set -euo pipefail
cd "$(dirname "$0")/.."
# Stdout carries the URL and nothing else (callers run `url=$(bash scripts/setup_postgres.sh)`):
# every other line, ours or apt's, goes to stderr; the URL is written to the saved stdout.
exec 3>&1 1>&2
ROOT=${POLOS_PG_ROOT:-/tmp/polos_nb-postgres}
PORT=${POLOS_PG_PORT:-55433}
DATA="$ROOT/data"
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

as_owner() {
  # Run a PostgreSQL server program as the cluster's owner.
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = "--stop" ]; then
  BIN=$(pgbin)
  if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true
  fi
  exit 0
fi

mkdir -p "$ROOT"
exec 8>"$ROOT.lock"
flock 8

if [ -z "$(pgbin)" ] || [ ! -x "$(pgbin)/initdb" ]; then
  bash scripts/apt_install.sh postgresql
fi
BIN=$(pgbin)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "polos_nb: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin after installing." >&2
  exit 1
fi
if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
  echo "polos_nb: the 'postgres' user is missing (the postgresql package creates it)." >&2
  exit 1
fi

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; }

if ! ready; then
  if [ "$(id -u)" = "0" ]; then
    chown postgres: "$ROOT"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    echo "polos_nb: creating a PostgreSQL cluster in $DATA" >&2
    as_owner "$BIN/initdb" -D "$DATA" -A trust -U postgres -E UTF8 --no-sync \
      --no-instructions >/dev/null
  fi
  # A server killed without a clean shutdown leaves its pid file; pg_ctl checks whether
  # that process still lives, so a stale file does not stop the start.
  echo "polos_nb: starting PostgreSQL on 127.0.0.1:$PORT (log $ROOT/server.log)" >&2
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $ROOT -c max_connections=200" start >/dev/null 3>&- 8>&-; then
    echo "polos_nb: PostgreSQL did not start; its log:" >&2
    tail -n 30 "$ROOT/server.log" >&2 || true
    exit 1
  fi
  for _ in $(seq 100); do
    ready && break
    sleep 0.1
  done
  if ! ready; then
    echo "polos_nb: PostgreSQL does not accept connections on 127.0.0.1:$PORT" >&2
    exit 1
  fi
fi

mkdir -p .cache
echo "POLOS_TEST_POSTGRES_URL=$URL" >"$ROOT/env"
echo "POLOS_TEST_POSTGRES_URL=$URL" >.cache/postgres.env
echo "polos_nb: PostgreSQL ready" >&2
echo "$URL" >&3
