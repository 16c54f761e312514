#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (trust auth, 127.0.0.1:55432) in a temporary folder and prints its DSN.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user.
set -euo pipefail
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/authsvc-pg.XXXXXX)
PORT=${AUTHSVC_THROWAWAY_PG_PORT:-55432}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -ne 0 ] || chown postgres "$DIR"
as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1" start >/dev/null
echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
