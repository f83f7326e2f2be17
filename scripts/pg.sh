#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for crabapple's tests and benchmarks (docs: README "PostgreSQL").
#
#   scripts/pg.sh start [PORT]   initdb + start on 127.0.0.1:PORT (default 55432), C collation;
#                                prints the URL of database `crabapple` (created)
#   scripts/pg.sh stop           stops it and removes its directory
#   scripts/pg.sh restart        stops the server (immediate) and starts it again on the same
#                                directory (the "database restart" fault test)
#
# fsync is off (the OS may lose the last commits in a crash of the machine, not of PostgreSQL:
# an immediate stop or kill -9 of the server loses no committed transaction).
# The cluster lives in $CRABAPPLE_PG_DIR (default: target/pg). initdb refuses to run as root, so
# as root it runs as the `postgres` user. Needs PostgreSQL's server binaries (apt: postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${CRABAPPLE_PG_DIR:-$(pwd)/target/pg}
PORT=${2:-${CRABAPPLE_PG_PORT:-55432}}
BIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_server() {
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 30 start \
    -o "-p $(cat "$DIR/port") -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=400" >/dev/null
}
case "${1:-}" in
  start)
    if [ -f "$DIR/data/postmaster.pid" ]; then
      echo "postgres://postgres@127.0.0.1:$(cat "$DIR/port")/crabapple"; exit 0
    fi
    rm -rf "$DIR"; mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
    chmod 700 "$DIR"
    as_pg "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
    echo "$PORT" > "$DIR/port"
    start_server
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres crabapple
    echo "postgres://postgres@127.0.0.1:$PORT/crabapple"
    ;;
  restart)
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null
    start_server
    ;;
  stop)
    [ -d "$DIR/data" ] && as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
    ;;
  *) echo "usage: scripts/pg.sh start [PORT] | stop | restart"; exit 2 ;;
esac
