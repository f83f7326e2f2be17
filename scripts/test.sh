#!/usr/bin/env bash
# The project's test command.
#
#   1. cargo build -p crabapple                     (debug)
#   2. scripts/setup-clients.sh and setup-apple-libs.sh (real clients into gitignored dirs) —
#      before the cargo tests, so the cross-checks with Apple's libraries really run there
#   3. cargo nextest run --workspace (+ doctests)    (or cargo test --workspace without nextest),
#      then again with every store on PostgreSQL (scripts/pg.sh starts a throwaway cluster)
#   4. crabapple serve on a free port in a temp data dir, recording the operations it serves
#   5. tests/clients/python  pytest: codemagic-cli-tools, asconnect, fastlane spaceship, raw HTTP checks
#   6. tests/clients/node    node --test: appstore-connect-sdk, node-app-store-connect-api (HTTPS)
#   7. crates/storekit/tests/apple-libs/run.sh  Apple's Python and Node App Store Server libraries
#   8. tests/prism/sweep.py  every GET operation of Apple's spec through Prism's validation proxy
#   9. tests/prism/write_sweep.py  every write operation of the spec, proven by a later request
#      (and checks tests/coverage/stateful.tsv is current)
#  10. steps 5-9 again against two `crabapple serve --database` replicas on PostgreSQL behind a
#      round-robin balancer, one replica killed with kill -9 during step 5 and during step 6
#  11. stops everything; exits non-zero if anything failed. After a green client run it compares
#      tests/clients/exercised-ops.txt (operations real clients called; `crabapple spec coverage`)
#      with what the clients called: with CI set a stale file fails the run, otherwise it is
#      rewritten.
#
# No silent skips: a missing dependency fails its test. The only skips that may remain are
# `#[ignore = "why"]` Rust benchmarks and timing reports (run on demand); any other skip fails
# the run.
#
# Options:  --skip-cargo-tests   skip step 3          --skip-prism   skip steps 8 and 9 (both passes)
#           --no-build           skip step 1 and use the crabapple binary already built
#           --keep               keep the temp dir (server log, reports) and print its path
# The last line is `N passed, M failed, K skipped` over every suite: cargo tests, pytest tests,
# node tests, Apple's libraries' tests, and each sweep as one check.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

SKIP_CARGO_TESTS=0
SKIP_PRISM=0
KEEP=0
NO_BUILD=0
for a in "$@"; do
    case "$a" in
        --skip-cargo-tests) SKIP_CARGO_TESTS=1 ;;
        --skip-prism) SKIP_PRISM=1 ;;
        --keep) KEEP=1 ;;
        --no-build) NO_BUILD=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown option $a" >&2; exit 2 ;;
    esac
done

T0=$SECONDS
TMP="$(mktemp -d "${TMPDIR:-/tmp}/crabapple-test.XXXXXX")"
SERVER_PID=""
FAILED_STEPS=()
PASSED=0
FAILED=0
SKIPPED=0

step() { printf '\n==== %s  (+%ds)\n' "$*" "$((SECONDS - T0))"; }
fail() { FAILED_STEPS+=("$1"); printf '**** FAILED: %s\n' "$1"; }

cleanup() {
    local rc=$?
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ $KEEP == 1 ]] || scripts/pg.sh stop
    if [[ $KEEP == 1 ]]; then
        echo "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------ build
if [[ $NO_BUILD == 1 ]]; then
    step "using the crabapple binary already built (--no-build)"
elif step "cargo build -p crabapple"; ! cargo build -p crabapple; then
    fail "cargo build -p crabapple"
    echo "0 passed, 1 failed"
    exit 1
fi
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null)"
BIN="${TARGET_DIR:-$REPO/target}/debug/crabapple"
[[ -x "$BIN" ]] || { fail "no binary at $BIN"; echo "0 passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------------------------- clients
step "scripts/setup-clients.sh"
S0=$SECONDS
if ! scripts/setup-clients.sh; then
    fail "scripts/setup-clients.sh"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! crates/storekit/tests/apple-libs/setup-apple-libs.sh; then
    fail "crates/storekit/tests/apple-libs/setup-apple-libs.sh"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "client tools ready in $((SECONDS - S0))s"
PY="$REPO/tests/clients/.venv/bin/python"

# ------------------------------------------------------------------------------ cargo tests
# Counts come from the runner's own summary line, so the last line covers the Rust tests too.
count_cargo() { # $1: nextest/cargo output file
    local line
    line="$(grep -E '^ *Summary \[' "$1" | tail -1)"
    if [[ -n "$line" ]]; then # nextest: "Summary [ 1.2s] 150 tests run: 149 passed, 1 failed, 4 skipped"
        PASSED=$((PASSED + $(sed -n 's/.* \([0-9]*\) passed.*/\1/p' <<<"$line" | head -1)))
        FAILED=$((FAILED + $(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line" | head -1 | grep . || echo 0)))
        SKIPPED=$((SKIPPED + $(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<<"$line" | head -1 | grep . || echo 0)))
        return
    fi
    # cargo test: one "test result: ok. N passed; M failed; K ignored" per test binary
    while read -r p f i; do
        PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + i))
    done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$1")
}
# PostgreSQL (issue 12): a fresh throwaway cluster (scripts/pg.sh) for the replica tests and the
# second pass of the Rust suite, which runs every test again with its stores on PostgreSQL (a
# schema per data directory).
step "start PostgreSQL (scripts/pg.sh)"
scripts/pg.sh stop
if PG_URL="$(scripts/pg.sh start)"; then
    export CRABAPPLE_TEST_POSTGRES_URL="$PG_URL"
    echo "PostgreSQL at $PG_URL"
else
    fail "scripts/pg.sh start"
fi
if [[ $SKIP_CARGO_TESTS == 0 ]]; then
    export CRABAPPLE_BIN="$BIN"
    # The in-process worlds of the Rust tests live under target/tmp (CARGO_TARGET_TMPDIR) and
    # are kept after the run for inspection; the previous run's are removed here.
    rm -rf target/tmp/crabapple-test-* target/tmp/crabapple-full-disk-*
    if command -v cargo-nextest >/dev/null; then
        step "cargo nextest run --workspace"
        cargo nextest run --workspace --no-tests=fail --no-fail-fast 2>&1 | tee "$TMP/cargo.log"
        [[ ${PIPESTATUS[0]} == 0 ]] || fail "cargo nextest run --workspace"
        count_cargo "$TMP/cargo.log"
        if [[ -n "${CRABAPPLE_TEST_POSTGRES_URL:-}" ]]; then
            step "cargo nextest run --workspace, stores on PostgreSQL"
            CRABAPPLE_TEST_DATABASE_URL="$CRABAPPLE_TEST_POSTGRES_URL" \
                cargo nextest run --workspace --no-tests=fail --no-fail-fast 2>&1 | tee "$TMP/cargo-pg.log"
            [[ ${PIPESTATUS[0]} == 0 ]] || fail "cargo nextest run --workspace (PostgreSQL)"
            count_cargo "$TMP/cargo-pg.log"
        fi
        step "cargo test --workspace --doc"
        cargo test --workspace --doc 2>&1 | tee "$TMP/cargo-doc.log"
        [[ ${PIPESTATUS[0]} == 0 ]] || fail "cargo test --workspace --doc"
        count_cargo "$TMP/cargo-doc.log"
    else
        step "cargo test --workspace"
        cargo test --workspace 2>&1 | tee "$TMP/cargo.log"
        [[ ${PIPESTATUS[0]} == 0 ]] || fail "cargo test --workspace"
        count_cargo "$TMP/cargo.log"
    fi
fi

step "start crabapple"
DATA="$TMP/data"
# A free TCP port on the loopback.
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
# Issue 13: the same server also answers HTTPS and runs the proxy for Apple's hosts.
HTTPS_PORT="$(free_port)"
PROXY_PORT="$(free_port)"
# CRABAPPLE_RECORD_OPS: the server appends `operationId<TAB>User-Agent` for every request it routes;
# our own raw requests send User-Agent crabapple-tests/*, everything else is a real client.
# A high hourly limit: the suites together make several thousand requests within the hour
# (the limit itself is covered by the Rust tests and the X-Rate-Limit checks).
CRABAPPLE_RECORD_OPS="$TMP/ops.tsv" "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" --rate-limit 100000 \
    --https "127.0.0.1:$HTTPS_PORT" --proxy "127.0.0.1:$PROXY_PORT" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
# An admin API request with the token `crabapple serve` keeps in the data directory.
admin_call() {
    "$PY" -c "import sys,urllib.request; t=open(sys.argv[3]).read().strip(); urllib.request.urlopen(urllib.request.Request(sys.argv[2], method=sys.argv[1], headers={'X-Crabapple-Admin-Token': t}), timeout=60)" \
        "$1" "$BASE/crabapple/admin$2" "$DATA/admin-token"
}
ready=0
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    if admin_call GET /status 2>/dev/null; then ready=1; break; fi
    sleep 0.2
done
cat "$TMP/server.log"
if [[ $ready != 1 ]]; then
    fail "crabapple serve did not come up"
    echo "0 passed, 1 failed"
    exit 1
fi

export CRABAPPLE_BASE_URL="$BASE" CRABAPPLE_DATA="$DATA" CRABAPPLE_BIN="$BIN"
"$BIN" ca export --pem --tls --data "$DATA" >"$TMP/ca.pem"
export CRABAPPLE_HTTPS_URL="https://127.0.0.1:$HTTPS_PORT" CRABAPPLE_PROXY_URL="http://127.0.0.1:$PROXY_PORT" \
    CRABAPPLE_CA_FILE="$TMP/ca.pem"

# The server must outlive every suite; if it died, say how.
check_server() {
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID"; local st=$?
        SERVER_PID=""
        fail "crabapple serve died during $1 (exit status $st$( ((st > 128)) && echo ", signal $((st - 128))"))"
        echo "--- server log"; tail -n 60 "$TMP/server.log"
        echo "$PASSED passed, $((FAILED + 1)) failed"
        exit 1
    fi
}

reset_world() {
    admin_call POST /reset >/dev/null || fail "POST /crabapple/admin/reset"
}

# pytest ------------------------------------------------------------------------------------
# count_pytest JUNIT_XML NAME: adds a pytest run's counts; no pytest test may skip (a client test
# that cannot run is a failure).
count_pytest() {
    local p f s
    read -r p f s < <("$PY" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
print(t - f - s, f, s)
EOF
    )
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
    ((s == 0)) || fail "$2 skipped $s test(s); a test that cannot run must fail"
}
step "pytest tests/clients/python (codemagic-cli-tools, asconnect, fastlane spaceship, raw HTTP)"
PYTEST_OK=0
timeout 900 "$PY" -m pytest tests/clients/python -p no:cacheprovider -rfE --tb=short \
    --junitxml="$TMP/pytest.xml" && PYTEST_OK=1
if [[ -f "$TMP/pytest.xml" ]]; then
    count_pytest "$TMP/pytest.xml" pytest
else
    FAILED=$((FAILED + 1))
fi
[[ $PYTEST_OK == 1 ]] || fail "pytest tests/clients/python"
check_server "pytest"

# node --------------------------------------------------------------------------------------
reset_world
step "node --test tests/clients/node (appstore-connect-sdk, node-app-store-connect-api)"
# run_node TAP NAME: the node suite against CRABAPPLE_BASE_URL, its counts added (NODE_OK=1 when
# it passed); no node test may skip (operations appstore-connect-sdk has no function for are not
# tests).
run_node() {
    local np nf nc ns node_skips
    NODE_OK=0
    (cd tests/clients/node && NODE_EXTRA_CA_CERTS="$CRABAPPLE_CA_FILE" timeout 600 node --test \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$1" test/) && NODE_OK=1
    np="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$1" 2>/dev/null | tail -1)"
    nf="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$1" 2>/dev/null | tail -1)"
    nc="$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$1" 2>/dev/null | tail -1)"
    ns="$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$1" 2>/dev/null | tail -1)"
    PASSED=$((PASSED + ${np:-0})); FAILED=$((FAILED + ${nf:-0} + ${nc:-0})); SKIPPED=$((SKIPPED + ${ns:-0}))
    node_skips="$(grep -cE '# SKIP' "$1" 2>/dev/null)"
    ((${node_skips:-0} == 0)) || fail "$2: $node_skips test(s) skipped; a test that cannot run must fail"
    if [[ $NODE_OK != 1 ]]; then
        fail "$2"
        [[ -z "$nf" ]] && FAILED=$((FAILED + 1))
    fi
}
run_node "$TMP/node.tap" "node --test tests/clients/node"

check_server "node"

# Operations the real clients called, for `crabapple spec coverage` (only from a green run).
if [[ $PYTEST_OK == 1 && $NODE_OK == 1 && -s "$TMP/ops.tsv" ]]; then
    {
        echo "# Operation ids a real client (codemagic-cli-tools, asconnect, fastlane spaceship, appstore-connect-sdk) called in the last"
        echo "# run of scripts/test.sh; written by that script, read by \`crabapple spec coverage\`."
        awk -F'\t' '$2 !~ /^crabapple-tests/ { print $1 }' "$TMP/ops.tsv" | LC_ALL=C sort -u
    } >"$TMP/exercised-ops.txt"
    if ! cmp -s "$TMP/exercised-ops.txt" tests/clients/exercised-ops.txt; then
        if [[ -n "${CI:-}" ]]; then
            diff -u tests/clients/exercised-ops.txt "$TMP/exercised-ops.txt" | head -40
            fail "tests/clients/exercised-ops.txt is stale (run scripts/test.sh locally and commit it)"
        else
            cp "$TMP/exercised-ops.txt" tests/clients/exercised-ops.txt
            echo "updated tests/clients/exercised-ops.txt (commit it)"
        fi
    fi
    echo "real clients exercised $(grep -vc '^#' tests/clients/exercised-ops.txt) operations (tests/clients/exercised-ops.txt)"
fi

# Apple's App Store Server libraries -------------------------------------------------------
reset_world
step "crates/storekit/tests/apple-libs/run.sh (Apple's Python and Node App Store Server libraries)"
# run_apple_libs LOG NAME: Apple's libraries against $BASE / $DATA, their counts added.
run_apple_libs() {
    CRABAPPLE_BIN="$BIN" timeout 900 crates/storekit/tests/apple-libs/run.sh "$BASE" "$DATA" 2>&1 | tee "$1"
    APPLE_OK=${PIPESTATUS[0]}
    # Counts from the runners' own summaries: pytest -q "N passed, M failed, K skipped in …",
    # node --test "ℹ pass N" / "ℹ fail N" / "ℹ skipped N".
    read -r ap af as < <(python3 - "$1" <<'EOF2'
import re, sys
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
p = f = s = 0
for line in t.splitlines():
    if re.search(r"\d+ (passed|failed|skipped|error)", line) and " in " in line:
        for n, w in re.findall(r"(\d+) (passed|failed|skipped|errors?)", line):
            n = int(n)
            p += n if w == "passed" else 0
            f += n if w in ("failed", "error", "errors") else 0
            s += n if w == "skipped" else 0
    m = re.match(r"^\S* ?(pass|fail|cancelled|skipped) (\d+)$", line.strip())
    if m:
        n = int(m.group(2))
        p += n if m.group(1) == "pass" else 0
        f += n if m.group(1) in ("fail", "cancelled") else 0
        s += n if m.group(1) == "skipped" else 0
print(p, f, s)
EOF2
    )
    PASSED=$((PASSED + ap)); FAILED=$((FAILED + af)); SKIPPED=$((SKIPPED + as))
    ((as == 0)) || fail "$2: $as test(s) skipped; a test that cannot run must fail"
    if [[ $APPLE_OK != 0 ]]; then
        ((af > 0)) || FAILED=$((FAILED + 1))
        fail "$2 (crates/storekit/tests/apple-libs/run.sh)"
    fi
}
run_apple_libs "$TMP/apple-libs.log" "Apple's App Store Server libraries"
check_server "Apple's App Store Server libraries"

# prism ------------------------------------------------------------------------------------
# Apple's spec is read at run time, never committed. Without it (or without Prism) a sweep fails.
SPEC="$REPO/../shared/spec/app-store-connect-openapi.json"
# The sweeps themselves fail (exit 2) when the spec or Prism is missing, instead of passing empty.
export CRABAPPLE_REQUIRE_SPEC=1
# prism_step NAME SCRIPT ARGS...: one sweep, counted as one check.
prism_step() {
    local name="$1"; shift
    reset_world
    step "$name"
    if [[ ! -f "$SPEC" ]]; then
        # Read at run time, never committed. Without it a sweep cannot prove anything: fail.
        FAILED=$((FAILED + 1))
        fail "Apple's spec is not at ../shared/spec/app-store-connect-openapi.json ($name needs it)"
    elif TMPDIR="$TMP" timeout 1200 "$PY" "$@" --base "$BASE" --data "$DATA" --bin "$BIN"; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        fail "$1"
    fi
    check_server "$1"
}
if [[ $SKIP_PRISM == 0 ]]; then
    prism_step "tests/prism/sweep.py (Prism validation proxy, every GET operation)" \
        tests/prism/sweep.py --report "$TMP/sweep.json"
    # Every create/update/delete/relationship write of the spec, each proven by a later GET;
    # fails when tests/coverage/stateful.tsv is stale (rerun it with --update).
    prism_step "tests/prism/write_sweep.py (Prism validation proxy, every write operation)" \
        tests/prism/write_sweep.py --report "$TMP/write-sweep.json"
fi

# ------------------------------------------------------- PostgreSQL, two replicas (issue 12)
# The Python and Node client suites again, against two `crabapple serve --database` replicas of one
# PostgreSQL schema behind a round-robin balancer (tests/clients/round_robin.py): each client
# connection lands on the next replica, so a client's requests alternate between them. Issue 12's
# "kill one replica mid-run and still see every test pass": replica B is killed (kill -9) while
# each suite runs — between two requests, with its connections open (the balancer stops sending it
# requests, says `drained`, and B is killed) — and a new B takes its place before the Node suite.
if [[ -n "${CRABAPPLE_TEST_POSTGRES_URL:-}" ]]; then
    step "pytest tests/clients/python on PostgreSQL, two replicas behind a round-robin balancer"
    PG_DATA="$TMP/pgdata"
    PG_CLIENTS_URL="$CRABAPPLE_TEST_POSTGRES_URL?options[search_path]=clients"
    RA="$(free_port)"; RB="$(free_port)"; LB="$(free_port)"; RA_HTTPS="$(free_port)"; RA_PROXY="$(free_port)"
    # Every connection reaches a replica from the balancer's address: the per-IP cap goes up.
    export CRABAPPLE_MAX_CONNECTIONS_PER_IP=4096
    # start_replica PORT LOG [ARGS...]: one `crabapple serve` on the shared schema; REPLICA=its pid.
    start_replica() {
        local port="$1" log="$2"
        shift 2
        CRABAPPLE_DATABASE_URL="$PG_CLIENTS_URL" "$BIN" serve --data "$PG_DATA" --listen "127.0.0.1:$port" \
            --rate-limit 100000 "$@" >"$log" 2>&1 &
        REPLICA=$!
        for _ in $(seq 1 300); do
            grep -q '^ready' "$log" 2>/dev/null && return
            sleep 0.2
        done
    }
    start_replica "$RA" "$TMP/replica-a.log" --https "127.0.0.1:$RA_HTTPS" --proxy "127.0.0.1:$RA_PROXY"
    REPLICA_A=$REPLICA
    start_replica "$RB" "$TMP/replica-b.log"
    REPLICA_B=$REPLICA
    ROUND_ROBIN_COUNTS="$TMP/round-robin.txt" ROUND_ROBIN_DRAIN="$RB" "$PY" tests/clients/round_robin.py \
        "$LB" "$RA" "$RB" >"$TMP/round-robin.log" 2>&1 &
    BALANCER=$!
    for _ in $(seq 1 50); do grep -q '^ready' "$TMP/round-robin.log" && break; sleep 0.2; done
    # kill_b_after SECONDS FILE: in the background, B is drained then killed; FILE says when.
    kill_b_after() {
        (
            sleep "$1"
            local drained
            drained="$(grep -c '^drained' "$TMP/round-robin.log")"
            kill -USR1 "$BALANCER"
            for _ in $(seq 1 500); do
                (($(grep -c '^drained' "$TMP/round-robin.log") > drained)) && break
                sleep 0.01
            done
            kill -9 "$REPLICA_B" && echo "replica B (pid $REPLICA_B) killed with kill -9 $1 s into the run" >"$2"
        ) &
        KILLER=$!
    }
    # killed_mid_run FILE NAME: the kill happened while the suite ran (not after it ended).
    killed_mid_run() {
        if [[ -s "$1" ]]; then cat "$1"; else fail "$2: replica B was not killed mid-run (the suite ended first)"; fi
        kill "$KILLER" 2>/dev/null
        wait "$KILLER" 2>/dev/null
    }
    "$BIN" ca export --pem --tls --data "$PG_DATA" --database "$PG_CLIENTS_URL" >"$TMP/pg-ca.pem"
    PG_OK=0
    export CRABAPPLE_BASE_URL="http://127.0.0.1:$LB" CRABAPPLE_DATA="$PG_DATA" CRABAPPLE_DATABASE_URL="$PG_CLIENTS_URL" \
        CRABAPPLE_HTTPS_URL="https://127.0.0.1:$RA_HTTPS" CRABAPPLE_PROXY_URL="http://127.0.0.1:$RA_PROXY" \
        CRABAPPLE_CA_FILE="$TMP/pg-ca.pem"
    kill_b_after "${CRABAPPLE_KILL_AFTER_PYTEST:-20}" "$TMP/killed-pytest.txt"
    timeout 900 "$PY" -m pytest tests/clients/python -p no:cacheprovider -rfE --tb=short \
        --junitxml="$TMP/pytest-pg.xml" && PG_OK=1
    killed_mid_run "$TMP/killed-pytest.txt" "pytest (PostgreSQL)"
    if [[ -f "$TMP/pytest-pg.xml" ]]; then
        count_pytest "$TMP/pytest-pg.xml" "pytest (PostgreSQL)"
    else
        FAILED=$((FAILED + 1))
    fi
    [[ $PG_OK == 1 ]] || fail "pytest tests/clients/python (PostgreSQL, two replicas)"
    # A new replica B on the same port; the balancer takes it back.
    start_replica "$RB" "$TMP/replica-b2.log"
    REPLICA_B=$REPLICA
    kill -USR2 "$BALANCER"
    # From here on the admin calls (reset_world) go to the replicas.
    BASE="$CRABAPPLE_BASE_URL" DATA="$PG_DATA"
    reset_world
    step "node --test tests/clients/node on PostgreSQL, two replicas behind the balancer"
    kill_b_after "${CRABAPPLE_KILL_AFTER_NODE:-4}" "$TMP/killed-node.txt"
    run_node "$TMP/node-pg.tap" "node --test tests/clients/node (PostgreSQL, two replicas)"
    killed_mid_run "$TMP/killed-node.txt" "node (PostgreSQL)"
    # Apple's libraries again, on the two replicas (a new B again): notifications are delivered
    # by whichever replica claims them.
    start_replica "$RB" "$TMP/replica-b3.log"
    REPLICA_B=$REPLICA
    kill -USR2 "$BALANCER"
    reset_world
    step "Apple's App Store Server libraries on PostgreSQL, two replicas behind the balancer"
    run_apple_libs "$TMP/apple-libs-pg.log" "Apple's App Store Server libraries (PostgreSQL, two replicas)"
    # The Prism sweeps again: every GET and every write of the spec through the balancer, the
    # write sweep proving the same operations stateful as on SQLite (stateful.tsv).
    if [[ $SKIP_PRISM == 0 ]]; then
        prism_step "tests/prism/sweep.py on PostgreSQL, two replicas" \
            tests/prism/sweep.py --report "$TMP/sweep-pg.json"
        prism_step "tests/prism/write_sweep.py on PostgreSQL, two replicas" \
            tests/prism/write_sweep.py --report "$TMP/write-sweep-pg.json"
    fi
    kill "$BALANCER" "$REPLICA_A" "$REPLICA_B" 2>/dev/null
    wait "$BALANCER" "$REPLICA_A" "$REPLICA_B" 2>/dev/null
    echo "connections per replica: $(tr '\n' ' ' < "$TMP/round-robin.txt" 2>/dev/null)"
fi

# -------------------------------------------------------------------------------- summary
step "done"
if ((${#FAILED_STEPS[@]})); then
    echo "--- last lines of the server log ($TMP/server.log)"
    tail -n 40 "$TMP/server.log"
    echo "--- failed steps:"
    printf '  %s\n' "${FAILED_STEPS[@]}"
fi
echo "total time $((SECONDS - T0))s"
if ((SKIPPED)); then
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
else
    echo "$PASSED passed, $FAILED failed"
fi
((${#FAILED_STEPS[@]} == 0 && FAILED == 0))
