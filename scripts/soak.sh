#!/usr/bin/env bash
# Issue 8, the long forms of the hardening tests (not run by scripts/test.sh). Without an argument:
# a real `crabapple serve` on loopback takes mutated HTTP requests (the `fuzz` test pointed at it) and
# slowloris bursts for SOAK_SECONDS (default 600). Prints the server's RSS and open descriptors
# before and after, the answers' statuses, and fails on any 5xx or if the server died.
set -euo pipefail
cd "$(dirname "$0")/.."
# `scripts/soak.sh writers`: the concurrent-writers test at scale instead — a real `crabapple serve`
# with 4 API writers while SOAK_WRITERS_EVENTS (default 2000) `crabapple purchase` processes run
# SOAK_WRITERS_PARALLEL (default 8) at a time; fails on any failed write, any 5xx, or a CLI event
# not listed and delivered.
if [[ "${1:-}" == writers ]]; then
  cargo build -q -p crabapple
  CRABAPPLE_WRITERS_EVENTS=${SOAK_WRITERS_EVENTS:-2000} \
  CRABAPPLE_WRITERS_PARALLEL=${SOAK_WRITERS_PARALLEL:-8} \
    exec cargo nextest run -p crabapple-storekit --test commerce --no-capture \
      writers::cli_events_while_the_server_writes_never_fail
fi
SECONDS_TOTAL=${SOAK_SECONDS:-600}
PER_ROUND=${SOAK_REQUESTS:-5000}
PORT=${SOAK_PORT:-18686}
DATA=$(mktemp -d)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA"' EXIT

cargo build -q -p crabapple
cargo nextest run --cargo-quiet -p crabapple-server --test fuzz --no-run
./target/debug/crabapple serve --data "$DATA" --listen "127.0.0.1:$PORT" --rate-limit 100000000 \
  >"$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/apps" && break
  sleep 0.2
done

rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$SERVER/status"; }
fds() { ls "/proc/$SERVER/fd" | wc -l; }

round() {
  CRABAPPLE_FUZZ_ADDR="127.0.0.1:$PORT" \
  CRABAPPLE_FUZZ_TOKEN="$(./target/debug/crabapple token --data "$DATA")" \
  CRABAPPLE_FUZZ_REQUESTS=$PER_ROUND CRABAPPLE_FUZZ_SEED=$((rounds + 1)) \
    cargo nextest run --cargo-quiet -p crabapple-server --test fuzz mutated_http_requests_never_get_a_5xx \
    --no-capture 2>&1 | grep 'mutated requests' || { echo "round failed"; exit 1; }
}

slowloris() {
  # 300 half-sent request heads from one peer; the server must close them (per-peer cap, then
  # the header-read timeout).
  python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(300):
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /v1/apps HTTP/1.1\r\nhost: x\r\n")
        socks.append(s)
    except OSError:
        pass  # closed on accept: over the per-peer cap
time.sleep(1)
for s in socks:
    s.close()
PY
}

rounds=0
round >/dev/null # warm-up: caches, pools
echo "before: RSS $(rss), open descriptors $(fds)"
start=$(date +%s)
while (($(date +%s) - start < SECONDS_TOTAL)); do
  round
  slowloris
  rounds=$((rounds + 1))
done
kill -0 "$SERVER" || { echo "the server died"; exit 1; }
sleep 11 # past the header-read timeout: idle connections are gone
echo "after $rounds rounds of $PER_ROUND requests + 300 half-sent heads: RSS $(rss), open descriptors $(fds)"
