#!/usr/bin/env bash
# Load benchmark (not a test), issue 12: authenticated GET /v1/apps/{id} at BENCH_CONNECTIONS
# (default 64) connections on a release crabapple — one process on SQLite, then 1, 2 and 3
# replicas on one PostgreSQL (a throwaway cluster, scripts/pg.sh, on its own port). With
# replicas, one wrk per replica shares the connections and the table sums their req/s; p99 is
# the worst of them. Client, replicas and PostgreSQL share this machine's cores.
# Also: cold start to "ready" on an existing store and creating the demo world, both backends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is required (apt-get install wrk)"; exit 1; }; }
cargo build --release -q -p crabapple
BIN="$ROOT/target/release/crabapple"
TMP=$(mktemp -d)
chmod 755 "$TMP"
export CRABAPPLE_PG_DIR="$TMP/pg"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/pg.sh stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
PG_URL=$(scripts/pg.sh start 55499)

start() { # name data port [database]; sets START_MS (exec to "ready")
  local log="$TMP/$1.log" t0
  t0=$(date +%s%N)
  if [ -n "${4:-}" ]; then
    "$BIN" serve --database "$4" --data "$2" --listen "127.0.0.1:$3" --rate-limit 100000000 > "$log" 2>&1 &
  else
    "$BIN" serve --data "$2" --listen "127.0.0.1:$3" --rate-limit 100000000 > "$log" 2>&1 &
  fi
  PIDS+=($!)
  until grep -q "^ready" "$log" 2>/dev/null; do sleep 0.01; done
  START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }

load() { # label token app port...
  local label=$1 token=$2 app=$3; shift 3
  local n=$# per=$((CONNS / $#)) i=0 wrks=()
  for port in "$@"; do
    wrk -t1 -c"$per" -d"$DUR" --latency -H "Authorization: Bearer $token" \
      "http://127.0.0.1:$port/v1/apps/$app" > "$TMP/wrk-$i" &
    wrks+=($!)
    i=$((i + 1))
  done
  wait "${wrks[@]}"
  local rps p99
  rps=$(cat "$TMP"/wrk-* | awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}')
  p99=$(cat "$TMP"/wrk-* | awk '$1=="99%" {print $2}' | sort -h | tail -1)
  printf "%-44s %9s req/s   p99 %8s   (%d wrk x %d connections)\n" "$label" "$rps" "$p99" "$n" "$per"
  rm -f "$TMP"/wrk-*
}

echo "issue 12 replicas benchmark: GET /v1/apps/{id}, $CONNS connections, $DUR, $(nproc) cores shared by wrk, crabapple and PostgreSQL"
# SQLite, one process.
start sqlite "$TMP/sqlite" 18721; NEW=$START_MS; stop_all
start sqlite "$TMP/sqlite" 18721; OLD=$START_MS
TOKEN=$("$BIN" token --data "$TMP/sqlite")
APP=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18721/v1/apps?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
echo "SQLite cold start: creating the demo world $NEW ms, existing store $OLD ms"
load "SQLite, 1 process" "$TOKEN" "$APP" 18721
stop_all
# PostgreSQL, 1-3 replicas on one database.
start pg1 "$TMP/pgdata" 18731 "$PG_URL"; NEW=$START_MS; stop_all
start pg1 "$TMP/pgdata" 18731 "$PG_URL"; OLD=$START_MS
TOKEN=$("$BIN" token --database "$PG_URL" --data "$TMP/pgdata")
APP=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18731/v1/apps?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
echo "PostgreSQL cold start: creating the demo world $NEW ms, existing store $OLD ms"
# A replica relies on LISTEN/NOTIFY 2 s after it joined (crates/store/src/notify.rs); before
# that, and with CRABAPPLE_COHERENCE=read, it reads the write token at every request.
sleep 2.5
load "PostgreSQL, 1 replica" "$TOKEN" "$APP" 18731
stop_all
CRABAPPLE_COHERENCE=read start pg1 "$TMP/pgdata" 18731 "$PG_URL"
load "PostgreSQL, 1 replica, COHERENCE=read" "$TOKEN" "$APP" 18731
stop_all
start pg1 "$TMP/pgdata" 18731 "$PG_URL"
start pg2 "$TMP/pgdata" 18732 "$PG_URL"
sleep 2.5
load "PostgreSQL, 2 replicas" "$TOKEN" "$APP" 18731 18732
start pg3 "$TMP/pgdata" 18733 "$PG_URL"
sleep 2.5
load "PostgreSQL, 3 replicas" "$TOKEN" "$APP" 18731 18732 18733
