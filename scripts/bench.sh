#!/usr/bin/env bash
# Load benchmark (not a test): authenticated GET /v1/apps/{id} and GET /v1/apps?include=builds on a
# release crabapple, side by side with Prism mocking Apple's spec and the ceiling — a bare hyper
# server answering the same bytes crabapple answers for GET /v1/apps/{id} (body and headers) —
# at 64 connections with wrk; crabapple as a percentage of that ceiling. Also cold start (on an
# empty data directory, creating the demo world, and on that existing data directory) and idle
# RSS, and the same GET with kept answers off (CRABAPPLE_ANSWER_CACHE=0: computed per request).
# Prints a table. BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_NO_PRISM=1,
# BENCH_POSTGRES=1 (the store on a throwaway PostgreSQL cluster instead of SQLite).
#
# `scripts/bench.sh simulate [DAYS]`: instead, the simulator's curve — `crabapple simulate` of
# one app (Crabapple Notes: subscriptions, a non-consumable) at 1k, 10k and 100k first-time
# downloads a day for DAYS days (default 365), each on a fresh demo world, with wall time, CPU
# seconds, peak RSS, the database's size and what it produced.
#
# `scripts/bench.sh reports [DAYS]`: serving a DAILY sales report after DAYS simulated days (indie
# profile, BENCH_REPORTS_PROFILE=hit for a large day) at 16 connections, from the report files
# cache in memory and from its database rows (see that branch below).
#
# `scripts/bench.sh worlds [N]`: isolated worlds (issue 12) on a release server — the demo world's
# creation time through the admin API and the CLI, then one world's GET latency (p50, p99 of
# sequential requests on one kept-alive curl connection) with 1 and with N worlds open (default
# 100), and the server's RSS, then its idle CPU with the N worlds open (10 s without requests)
# and on PostgreSQL its connections (see that branch below); BENCH_WORLDS_POSTGRES=1 keeps them
# on a throwaway PostgreSQL cluster.
#
# `scripts/bench.sh digest [DAYS]`: the md5 of every daily sales and subscription file and the
# finance files of a simulated run (see that branch below): compare two builds' digests.
#
# `scripts/bench.sh analytics [DAYS]`: Analytics Reports of a simulated year — one app at
# BENCH_ANALYTICS_VOLUMES first-time downloads a day (default "1000 10000"), every instance and
# segment of an ONGOING and a ONE_TIME_SNAPSHOT request walked and downloaded, with the seconds,
# CPU and peak RSS of that part alone and the segment download p99 at 16 connections (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# Waits for a server started in the background to print `ready`; fails with its log if it exits
# first (a port still taken, a bad data directory) instead of waiting for ever.
await_ready() { # log pid
  until grep -q "^ready" "$1" 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || { echo "the server exited before ready:"; cat "$1"; exit 1; }
    sleep 0.05
  done
}
# wrk, the release binary BIN, a temporary directory TMP and the server's PID, killed and removed
# on exit (the `reports` and `analytics` modes).
setup_release() {
  command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is required (apt-get install wrk)"; exit 1; }; }
  cargo build --release -q -p crabapple
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crabapple"
  TMP=$(mktemp -d)
  PID=""
  trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; rm -rf "$TMP"' EXIT
  trap 'exit 130' INT TERM
}
if [ "${1:-}" = simulate ]; then
  DAYS=${2:-365}
  cargo build --release -q -p crabapple
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crabapple"
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  echo "crabapple simulate: $DAYS days of com.crabapple.notes on $(nproc) cores"
  for N in ${BENCH_SIMULATE_VOLUMES:-1000 10000 100000}; do
    D="$TMP/data-$N"
    "$BIN" serve --data "$D" --listen 127.0.0.1:0 > "$TMP/serve-$N.log" 2>&1 &
    PID=$!
    await_ready "$TMP/serve-$N.log" "$PID"
    kill "$PID"; wait "$PID" 2>/dev/null || true
    printf 'traffic:\n  com.crabapple.notes:\n    downloadsPerDay: %s\n' "$N" > "$TMP/world-$N.yaml"
    /usr/bin/time -f "%e %M %U %S" -o "$TMP/time-$N" "$BIN" simulate --quiet --data "$D" --days "$DAYS" \
      --world "$TMP/world-$N.yaml" > "$TMP/out-$N"
    read -r SECS KB USR SYS < "$TMP/time-$N"
    # CPU seconds (user + system) besides the wall time: on a shared machine the wall time
    # measures the neighbours too.
    printf "%7s downloads/day: %8.1f s  CPU %8.1f s (user %.1f, system %.1f)  peak RSS %5d MB  database %5d MB  %s\n" \
      "$N" "$SECS" "$(awk -v u="$USR" -v s="$SYS" 'BEGIN { print u + s }')" "$USR" "$SYS" $((KB / 1024)) \
      $(( $(du -sk "$D" | cut -f1) / 1024 )) "$(head -1 "$TMP/out-$N")"
  done
  exit 0
fi
if [ "${1:-}" = digest ]; then
  # `scripts/bench.sh digest [DAYS]`: byte-identity of the reports a change must keep — the
  # simulate of DAYS days (default 45: monthly renewals included) of one app at
  # BENCH_DIGEST_VOLUME first-time downloads a day (default 10000) on a fresh demo world, then
  # every DAILY SALES, SUBSCRIPTION, SUBSCRIPTION_EVENT and SUBSCRIBER file of those days and the
  # FINANCIAL files of its months: one line per file (date, type, HTTP status, md5 of the
  # unzipped file) and the md5 of those lines. Equal digests from two builds: identical files.
  # BENCH_DIGEST_BIN=PATH runs that crabapple binary instead of this tree's release build.
  DAYS=${2:-45}
  N=${BENCH_DIGEST_VOLUME:-10000}
  if [ -n "${BENCH_DIGEST_BIN:-}" ]; then
    BIN=$BENCH_DIGEST_BIN
  else
    cargo build --release -q -p crabapple
    BIN="$ROOT/target/release/crabapple"
  fi
  TMP=$(mktemp -d)
  PID=""
  trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; rm -rf "$TMP"' EXIT
  D="$TMP/data"
  PORT=18713
  "$BIN" serve --data "$D" --listen "127.0.0.1:$PORT" --rate-limit 100000000 > "$TMP/serve.log" 2>&1 &
  PID=$!
  await_ready "$TMP/serve.log" "$PID"
  printf 'traffic:\n  com.crabapple.notes:\n    downloadsPerDay: %s\n' "$N" > "$TMP/world.yaml"
  "$BIN" simulate --quiet --data "$D" --days "$DAYS" --world "$TMP/world.yaml" > "$TMP/out"
  head -1 "$TMP/out"
  DAY0=$(sed -n 's/.*(\([0-9-]*\) to .*/\1/p' "$TMP/out" | head -1)
  TOKEN=$("$BIN" token --data "$D")
  fetch() { # label URL: one line, date/type label, status and the md5 of the unzipped body
    local code
    code=$(curl -sg -o "$TMP/file.gz" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
      -H "Accept: application/a-gzip" "http://127.0.0.1:$PORT$2")
    echo "$1 $code $(gunzip -c "$TMP/file.gz" 2>/dev/null | md5sum | cut -c1-32)"
  }
  for i in $(seq 0 $((DAYS - 1))); do
    DAY=$(date -d "$DAY0 + $i days" +%F)
    for RT in SALES/SUMMARY/1_0 SUBSCRIPTION/SUMMARY/1_4 SUBSCRIPTION_EVENT/SUMMARY/1_4 SUBSCRIBER/DETAILED/1_4; do
      IFS=/ read -r TYPE SUB VER <<< "$RT"
      fetch "$DAY $TYPE" "/v1/salesReports?filter[vendorNumber]=85012345&filter[reportType]=$TYPE&filter[reportSubType]=$SUB&filter[frequency]=DAILY&filter[reportDate]=$DAY&filter[version]=$VER"
    done
  done >> "$TMP/sums"
  for M in $(seq 0 $((DAYS / 30 + 1))); do
    MON=$(date -d "$DAY0 + $M month" +%Y-%m)
    fetch "$MON FINANCIAL" "/v1/financeReports?filter[vendorNumber]=85012345&filter[reportType]=FINANCIAL&filter[regionCode]=ZZ&filter[reportDate]=$MON"
  done >> "$TMP/sums"
  cat "$TMP/sums"
  echo "files by HTTP status: $(cut -d' ' -f3 "$TMP/sums" | sort | uniq -c | tr -s ' \n' ' ')"
  echo "digest $(md5sum < "$TMP/sums" | cut -c1-32)"
  exit 0
fi
if [ "${1:-}" = reports ]; then
  # `scripts/bench.sh reports [DAYS]`: serving Sales and Trends — `crabapple simulate` of DAYS days
  # (default 30; profile BENCH_REPORTS_PROFILE, default indie, `hit` for a large day) on a fresh
  # demo world, then GET /v1/salesReports DAILY SALES for the middle simulated day: the first
  # download (computed, then kept by the report files cache), then wrk at 16 connections for 8 s
  # served from memory, then again after a restart with the in-memory layer off
  # (CRABAPPLE_REPORTS_MEMORY_MB=0: every download read from the database): req/s and p99.
  DAYS=${2:-30}
  PROFILE=${BENCH_REPORTS_PROFILE:-indie}
  setup_release
  D="$TMP/data"
  serve() { # memory MB ("" for the default)
    : > "$TMP/serve.log"
    CRABAPPLE_REPORTS_MEMORY_MB="$1" "$BIN" serve --data "$D" --listen 127.0.0.1:18711 \
      --rate-limit 100000000 > "$TMP/serve.log" 2>&1 &
    PID=$!
    await_ready "$TMP/serve.log" "$PID"
  }
  serve ""
  /usr/bin/time -f "%e" -o "$TMP/time" "$BIN" simulate --quiet --data "$D" --days "$DAYS" --profile "$PROFILE" > "$TMP/out"
  echo "$(head -1 "$TMP/out") (profile $PROFILE, wall $(cat "$TMP/time") s)"
  DAY=$(sed -n 's/.*(\([0-9-]*\) to .*/\1/p' "$TMP/out" | head -1)
  # The middle day of the run, once its file is out (the clock is already past its next morning).
  DAY=$(date -d "$DAY + $((DAYS / 2)) days" +%F)
  TOKEN=$("$BIN" token --data "$D")
  URL="http://127.0.0.1:18711/v1/salesReports?filter[vendorNumber]=85012345&filter[reportType]=SALES&filter[reportSubType]=SUMMARY&filter[frequency]=DAILY&filter[reportDate]=$DAY&filter[version]=1_0"
  get() { curl -sg -o "$TMP/file.gz" -w '%{http_code} %{size_download} bytes in %{time_total} s' -H "Authorization: Bearer $TOKEN" -H "Accept: application/a-gzip" "$URL"; }
  echo "GET DAILY SALES $DAY: first (computed) HTTP $(get), $(gunzip -c "$TMP/file.gz" | wc -l) lines"
  echo "GET DAILY SALES $DAY: second (cached) HTTP $(get)"
  load() { # label
    local out; out=$(wrk -t2 -c16 -d8s --latency -H "Authorization: Bearer $TOKEN" -H "Accept: application/a-gzip" "$URL")
    printf "wrk -t2 -c16 -d8s, %s: %s req/s   p99 %s   %s\n" "$1" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
      "$(echo "$out" | awk '$1=="99%" {print $2}')" "$(echo "$out" | awk '/Non-2xx/ {print "non-2xx: " $5}')"
  }
  load "cache in memory"
  kill "$PID"; wait "$PID" 2>/dev/null || true
  serve 0
  load "memory off, database rows"
  exit 0
fi
if [ "${1:-}" = worlds ]; then
  # Sequential requests on one connection (curl reuses it for the URLs of one command line), so
  # the numbers are the server's latency, not a load test; no wrk needed.
  N=${2:-100}
  REQS=${BENCH_WORLDS_REQUESTS:-400}
  cargo build --release -q -p crabapple
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/crabapple"
  TMP=$(mktemp -d)
  PID=""
  trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; rm -rf "$TMP"' EXIT
  D="$TMP/data"
  PORT=18712
  BASE="http://127.0.0.1:$PORT"
  # BENCH_WORLDS_POSTGRES=1: the worlds on a throwaway PostgreSQL cluster (a schema each).
  if [ "${BENCH_WORLDS_POSTGRES:-0}" = 1 ]; then
    chmod 755 "$TMP"  # the cluster runs as `postgres` (scripts/pg.sh)
    export CRABAPPLE_PG_DIR="$TMP/pg"
    CRABAPPLE_DATABASE_URL=$(scripts/pg.sh start 55497)
    export CRABAPPLE_DATABASE_URL
    trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; scripts/pg.sh stop > /dev/null 2>&1; rm -rf "$TMP"' EXIT
    echo "worlds on PostgreSQL ($CRABAPPLE_DATABASE_URL)"
  fi
  "$BIN" serve --data "$D" --listen "127.0.0.1:$PORT" --rate-limit 100000000 > "$TMP/serve.log" 2>&1 &
  PID=$!
  await_ready "$TMP/serve.log" "$PID"
  ADMIN="X-Crabapple-Admin-Token: $("$BIN" admin-token --data "$D")"
  create() { # prints the new world's id; its server-side creation time goes to $TMP/created
    curl -s -X POST -H "$ADMIN" "$BASE/crabapple/admin/worlds" > "$TMP/world.json"
    python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); print(w["elapsedMs"], file=open(sys.argv[2], "a")); print(w["id"])' \
      "$TMP/world.json" "$TMP/created"
  }
  latency() { # world id -> "p50 p99" in ms
    local T URLS=()
    T=$("$BIN" token --data "$D" --world "$1")
    for _ in $(seq "$REQS"); do URLS+=(-o /dev/null "$BASE/v1/apps?limit=10&include=appInfos"); done
    curl -s -H "Authorization: Bearer $T" -w '%{time_total}\n' "${URLS[@]:0:150}" > /dev/null
    curl -s -H "Authorization: Bearer $T" -w '%{time_total}\n' "${URLS[@]}" | sort -n |
      awk '{a[NR]=$1} END {printf "%.2f %.2f", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
  }
  rss() { awk '/VmRSS/ {printf "%d", $2/1024}' "/proc/$PID/status"; }
  FIRST=$(create)
  for _ in 1 2 3 4; do create > /dev/null; done
  echo "demo world creation (POST /crabapple/admin/worlds, in the server): $(sort -n "$TMP/created" | tr '\n' ' ')ms"
  START=$(date +%s%N)
  "$BIN" worlds create --data "$D" > "$TMP/cli.out"
  echo "demo world creation (crabapple worlds create, a new process): $(( ($(date +%s%N) - START) / 1000000 )) ms wall, $(tail -1 "$TMP/cli.out")"
  for id in $("$BIN" worlds list --data "$D" --json | python3 -c 'import json,sys; print(" ".join(w["id"] for w in json.load(sys.stdin)))'); do
    [ "$id" = "$FIRST" ] || curl -s -o /dev/null -X DELETE -H "$ADMIN" "$BASE/crabapple/admin/worlds/$id"
  done
  read -r P50 P99 <<< "$(latency "$FIRST")"
  echo "GET /v1/apps?limit=10&include=appInfos in one world, 1 world open: p50 $P50 ms, p99 $P99 ms (RSS $(rss) MB)"
  for _ in $(seq $((N - 1))); do
    ID=$(create)
    curl -s -o /dev/null -H "Authorization: Bearer $("$BIN" token --data "$D" --world "$ID")" "$BASE/v1/apps?limit=1"
  done
  sleep 2
  read -r Q50 Q99 <<< "$(latency "$FIRST")"
  echo "GET /v1/apps?limit=10&include=appInfos in one world, $N worlds open: p50 $Q50 ms, p99 $Q99 ms (RSS $(rss) MB, $(du -sm "$D/worlds" | cut -f1) MB on disk)"
  python3 -c "import sys; print(f'p50 {(float(sys.argv[2])/float(sys.argv[1])-1)*100:+.1f} %')" "$P50" "$Q50"
  # Idle (issue 12: each open world's scheduler looked at its ledger every 250 ms): the server's
  # CPU over 10 s without requests (utime + stime of /proc/PID/stat, in clock ticks), and on
  # PostgreSQL the sessions open on the database and the statements it ran meanwhile.
  ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
  if [ "${BENCH_WORLDS_POSTGRES:-0}" = 1 ]; then
    PSQL="$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql"
    pg() { "$PSQL" -h 127.0.0.1 -p 55497 -U postgres -d crabapple -Atc "$1"; }
    XACTS="SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'crabapple'"
  fi
  sleep 6
  T0=$(ticks); [ -n "${PSQL:-}" ] && X0=$(pg "$XACTS")
  sleep 10
  T1=$(ticks)
  HZ=$(getconf CLK_TCK)
  echo "idle, $N worlds open: CPU $(python3 -c "import sys; print(f'{(int(sys.argv[2])-int(sys.argv[1]))/int(sys.argv[3])/10*100:.1f}')" "$T0" "$T1" "$HZ") % over 10 s (RSS $(rss) MB)"
  if [ -n "${PSQL:-}" ]; then
    X1=$(pg "$XACTS")
    echo "idle, $N worlds open: $(pg "SELECT count(*) FROM pg_stat_activity WHERE datname = 'crabapple' AND pid <> pg_backend_pid()") sessions on the database, ~$(( (X1 - X0) / 10 )) transactions a second"
  fi
  exit 0
fi
if [ "${1:-}" = analytics ]; then
  # `scripts/bench.sh analytics [DAYS]`: for each volume N of BENCH_ANALYTICS_VOLUMES (default
  # "1000 10000"; 100000 takes the simulator alone ~21 min a year on 2 cores), on a fresh demo
  # world: inactivityDays set to 3650 (so the demo world's ONGOING request of Crabapple Notes
  # lives through the year), `crabapple simulate` of DAYS days (default 365) of Crabapple Notes at
  # N downloads a day (timed apart), then a ONE_TIME_SNAPSHOT request and 2 more simulated days
  # (its delivery), and a clock advance of 1 s that settles the outbox. Then, on a freshly started server (so its peak RSS is the analytics part's alone),
  # scripts/analytics_walk.py lists every report, instance and segment of both requests and
  # downloads every segment (4 threads; md5 and size checked): wall seconds, the server's CPU
  # seconds, its RSS before and its peak (VmHWM) after, and a digest of every file's md5 (equal
  # digests on the same world: byte-identical files). Last, wrk at 16 connections for 8 s on one
  # segment URL (an App Downloads Detailed DAILY segment of the middle of the year), then on
  # every segment URL of the walk in turn: req/s and p99.
  # BENCH_ANALYTICS_DATA=DIR keeps each simulated world in DIR/N-DAYS and walks a copy of it
  # when it is there already (the simulation is then skipped); BENCH_ANALYTICS_BIN=PATH walks
  # with that crabapple binary instead of this tree's release build (before/after comparisons).
  DAYS=${2:-365}
  setup_release
  BIN=${BENCH_ANALYTICS_BIN:-$BIN}
  APP=1476097583 # Crabapple Notes
  PORT=18721
  echo "Analytics Reports: $DAYS days of com.crabapple.notes on $(nproc) cores ($BIN)"
  cpu_s() { awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$1/stat"; }
  for N in ${BENCH_ANALYTICS_VOLUMES:-1000 10000}; do
    D="$TMP/data-$N"
    KEPT=${BENCH_ANALYTICS_DATA:+$BENCH_ANALYTICS_DATA/$N-$DAYS}
    serve() {
      : > "$TMP/serve.log"
      "$BIN" serve --data "$D" --listen 127.0.0.1:$PORT --rate-limit 100000000 > "$TMP/serve.log" 2>&1 &
      PID=$!
      await_ready "$TMP/serve.log" "$PID"
    }
    stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
    if [ -n "$KEPT" ] && [ -f "$KEPT/simulated" ]; then
      cp -r "$KEPT" "$D"
      read -r SIM_SECS SIM_KB < "$D/simulated"
    else
      serve
      ADMIN=$("$BIN" admin-token --data "$D")
      TOKEN=$("$BIN" token --data "$D")
      call() { # method path [body] [admin]
        local auth="Authorization: Bearer $TOKEN"
        [ -n "${4:-}" ] && auth="X-Crabapple-Admin-Token: $ADMIN"
        curl -sf -X "$1" -H "Content-Type: application/json" -H "$auth" \
          "http://127.0.0.1:$PORT$2" ${3:+-d "$3"} > /dev/null
      }
      call PATCH /crabapple/admin/analytics/settings '{"inactivityDays": 3650}' admin
      printf 'traffic:\n  com.crabapple.notes:\n    downloadsPerDay: %s\n' "$N" > "$TMP/world-$N.yaml"
      /usr/bin/time -f "%e %M" -o "$TMP/time-sim" "$BIN" simulate --quiet --data "$D" --days "$DAYS" \
        --world "$TMP/world-$N.yaml" > "$TMP/out-sim"
      read -r SIM_SECS SIM_KB < "$TMP/time-sim"
      call POST /v1/analyticsReportRequests "{\"data\":{\"type\":\"analyticsReportRequests\",\"attributes\":{\"accessType\":\"ONE_TIME_SNAPSHOT\"},\"relationships\":{\"app\":{\"data\":{\"type\":\"apps\",\"id\":\"$APP\"}}}}}"
      # Two more simulated days deliver it (the admin clock advance of 2 days took over 20 min
      # on a simulated year of 10k downloads a day).
      stop
      "$BIN" simulate --quiet --data "$D" --days 2 --world "$TMP/world-$N.yaml" > /dev/null
      # The outbox settled before the walk (a clock advance attempts every notification due):
      # otherwise the walk's server would spend its first minutes recording the failed attempts
      # of the year's notifications to the demo world's example hosts.
      /usr/bin/time -f "%e" -o "$TMP/time-settle" "$BIN" clock advance 1s --data "$D" > "$TMP/out-settle"
      echo "   outbox settled in $(cat "$TMP/time-settle") s: $(tail -1 "$TMP/out-settle")"
      echo "$SIM_SECS $SIM_KB" > "$D/simulated"
      if [ -n "$KEPT" ]; then rm -rf "$KEPT"; mkdir -p "$(dirname "$KEPT")"; cp -r "$D" "$KEPT"; fi
    fi
    serve
    RSS0=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
    CPU0=$(cpu_s "$PID")
    python3 "$ROOT/scripts/analytics_walk.py" "http://127.0.0.1:$PORT" "@$BIN token --data $D" \
      "$APP" 4 "$TMP/urls" > "$TMP/walk.json"
    HWM=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
    CPU1=$(cpu_s "$PID")
    printf "%7s downloads/day: simulate %7.1f s (peak RSS %d MB); database %d MB\n" "$N" "$SIM_SECS" \
      $((SIM_KB / 1024)) $(( $(du -sk "$D" | cut -f1) / 1024 ))
    python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); print("   walk: %(reports)d reports, %(instances)d instances %(instancesByAccessType)s, %(segments)d segments, %(gzipBytes)d gzip bytes, %(rows)d rows in %(seconds).1f s (listing %(listSeconds).1f s); digest %(digest)s" % w)' "$TMP/walk.json"
    python3 -c 'import json,sys; print("   slowest reports (s, summed over the threads):", json.load(open(sys.argv[1]))["slowest"])' "$TMP/walk.json"
    echo "   server: CPU $(python3 -c "print(round($CPU1 - $CPU0, 1))") s during the walk; RSS $((RSS0 / 1024)) MB after start, peak $((HWM / 1024)) MB after the walk"
    wrk_line() { # label, then wrk's arguments
      local label=$1 out
      shift
      out=$(wrk -t2 -c16 -d8s --latency "$@")
      printf "   %s, wrk -t2 -c16 -d8s: %s req/s   p99 %s   %s\n" "$label" \
        "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | awk '$1=="99%" {print $2}')" \
        "$(echo "$out" | awk '/Non-2xx/ {print "non-2xx: " $5}')"
    }
    URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sampleUrl"] or "")' "$TMP/walk.json")
    if [ -n "$URL" ]; then
      wrk_line "one segment download" "$URL"
      # Every segment of the walk in turn, each thread from its own start.
      cat > "$TMP/urls.lua" <<'LUA'
local paths = {}
for line in io.lines(os.getenv("BENCH_URLS")) do
  paths[#paths + 1] = line:match("^https?://[^/]+(.*)$")
end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
      BENCH_URLS="$TMP/urls" wrk_line "every segment in turn ($(wc -l < "$TMP/urls"))" \
        -s "$TMP/urls.lua" "$URL"
    fi
    echo "   server RSS after the downloads: $(( $(awk '/VmRSS/ {print $2}' /proc/$PID/status) / 1024 )) MB, peak $(( $(awk '/VmHWM/ {print $2}' /proc/$PID/status) / 1024 )) MB"
    stop
    rm -rf "$D"
  done
  exit 0
fi
SPEC="$ROOT/../shared/spec/app-store-connect-openapi.json"
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is required (apt-get install wrk)"; exit 1; }; }
cargo build --release -q -p crabapple
cargo build --release -q -p crabapple-server --example hello
BIN="$ROOT/target/release/crabapple"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${CRABAPPLE_PG_DIR:-}" ] && scripts/pg.sh stop > /dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
# BENCH_POSTGRES=1: crabapple's store on a throwaway PostgreSQL cluster (one replica; each
# measurement after it relies on LISTEN/NOTIFY, 2 s after it started).
SETTLE=0
if [ "${BENCH_POSTGRES:-0}" = 1 ]; then
  chmod 755 "$TMP"  # the cluster runs as `postgres` (scripts/pg.sh)
  export CRABAPPLE_PG_DIR="$TMP/pg"
  CRABAPPLE_DATABASE_URL=$(scripts/pg.sh start 55496)
  export CRABAPPLE_DATABASE_URL
  SETTLE=2.5
  echo "store: PostgreSQL ($CRABAPPLE_DATABASE_URL)"
fi

# Cold start: from exec to "ready" (its "ready in N ms" is the process's own count, after the
# loader). First on an empty data directory (creating the demo world), then, after a stop, on
# that existing data directory — the server measured below.
start_crab() { # label
  : > "$TMP/serve.log"
  local t0; t0=$(date +%s%N)
  "$BIN" serve --data "$TMP/data" --listen 127.0.0.1:18701 --rate-limit 100000000 > "$TMP/serve.log" 2>&1 &
  CRAB=$!
  until grep -q "^ready" "$TMP/serve.log" 2>/dev/null; do
    kill -0 "$CRAB" 2>/dev/null || { cat "$TMP/serve.log"; exit 1; }
    sleep 0.005
  done
  echo "$1: $(( ($(date +%s%N) - t0) / 1000000 )) ms ($(grep '^ready' "$TMP/serve.log"))"
}
rss_mb() { echo $(( $(awk '/VmRSS/ {print $2}' "/proc/$CRAB/status") / 1024 )); }
echo "crabapple load benchmark: wrk -t2 -c$CONNS -d$DUR on $(nproc) cores (client and servers share them)"
start_crab "cold start to ready, creating the demo world"
sleep 1
echo "idle RSS after creating the demo world: $(rss_mb) MB"
kill "$CRAB"; wait "$CRAB" 2>/dev/null || true
start_crab "cold start to ready, existing data directory"
PIDS+=("$CRAB")
sleep 1
sleep "$SETTLE"
echo "idle RSS after start on the existing data directory: $(rss_mb) MB"
TOKEN=$("$BIN" token --data "$TMP/data")
APP=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18701/v1/apps?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')

# The ceiling: bare hyper answering every request with the very response crabapple gives for
# GET /v1/apps/{id} (its body and its headers, X-Rate-Limit included), fetched once here.
curl -s -D "$TMP/app.head" -o "$TMP/app.json" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18701/v1/apps/$APP"
"$ROOT/target/release/examples/hello" 127.0.0.1:18702 "$TMP/app.json" "$TMP/app.head" & PIDS+=($!)
PRISM=""
if [ -f "$SPEC" ] && [ -x "$ROOT/tests/prism/node_modules/.bin/prism" ] && [ -z "${BENCH_NO_PRISM:-}" ]; then
  "$ROOT/tests/prism/node_modules/.bin/prism" mock "$SPEC" -p 18703 -h 127.0.0.1 > "$TMP/prism.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:18703/v1/apps -H "Authorization: Bearer x" && break; sleep 0.2; done
  PRISM=1
fi
sleep 1
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:18702/ && break; sleep 0.1; done
echo "GET /v1/apps/$APP: $(wc -c < "$TMP/app.json") bytes; the ceiling sends the same body and headers"

RPS=""
bench() { # name url
  local out; out=$(wrk -t2 -c"$CONNS" -d"$DUR" --latency -H "Authorization: Bearer $TOKEN" "$2")
  local p99 errs
  RPS=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf "%-48s %12s req/s   p99 %8s   %s\n" "$1" "$RPS" "$p99" "${errs:+non-2xx: $errs}"
}
bench "crabapple GET /v1/apps/{id}" "http://127.0.0.1:18701/v1/apps/$APP"; CRAB_RPS=$RPS
bench "crabapple GET /v1/apps?include=builds" "http://127.0.0.1:18701/v1/apps?include=builds"
[ -n "$PRISM" ] && bench "prism mock GET /v1/apps/{id}" "http://127.0.0.1:18703/v1/apps/$APP"
[ -n "$PRISM" ] && bench "prism mock GET /v1/apps?include=builds" "http://127.0.0.1:18703/v1/apps?include=builds"
bench "hyper ceiling (same body and headers)" "http://127.0.0.1:18702/"; CEIL_RPS=$RPS
echo "crabapple GET /v1/apps/{id} at $(python3 -c "print(round(100 * $CRAB_RPS / $CEIL_RPS, 1))") % of the ceiling"
# The same read with kept answers off (CRABAPPLE_ANSWER_CACHE=0, crates/server/src/answers.rs):
# every request computed from the store, as a read after a write is. A second server on the same
# store, started now; the first one idles meanwhile.
CRABAPPLE_ANSWER_CACHE=0 "$BIN" serve --data "$TMP/data" --listen 127.0.0.1:18704 --rate-limit 100000000 > "$TMP/serve-uncached.log" 2>&1 & PIDS+=($!)
await_ready "$TMP/serve-uncached.log" "${PIDS[-1]}"
sleep "$SETTLE"
bench "crabapple GET /v1/apps/{id}, answers not kept" "http://127.0.0.1:18704/v1/apps/$APP"
echo "crabapple GET /v1/apps/{id}, answers not kept, at $(python3 -c "print(round(100 * $RPS / $CEIL_RPS, 1))") % of the ceiling"
echo "crabapple RSS after load: $(rss_mb) MB"
