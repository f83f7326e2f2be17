#!/usr/bin/env bash
# The project's test command.
#
#   1. cargo build -p crabapple                     (debug)
#   2. cargo nextest run --workspace (+ doctests)    (or cargo test --workspace without nextest)
#   3. scripts/setup-clients.sh                     (real clients into gitignored dirs, if missing)
#   4. crabapple serve on a free port in a temp data dir, recording the operations it serves
#   5. tests/clients/python  pytest: codemagic-cli-tools, asconnect, raw HTTP checks
#   6. tests/clients/node    node --test: appstore-connect-sdk
#   7. crates/storekit/tests/apple-libs/run.sh  Apple's Python and Node App Store Server libraries
#   8. tests/prism/sweep.py  every GET operation of Apple's spec through Prism's validation proxy
#   9. tests/prism/write_sweep.py  every write operation of the spec, proven by a later request
#      (and checks tests/coverage/stateful.tsv is current)
#  10. stops everything; exits non-zero if anything failed. After a green client run it updates
#      tests/clients/exercised-ops.txt (operations real clients called; `crabapple spec coverage`).
#
# Options:  --skip-cargo-tests   skip step 2          --skip-prism   skip steps 8 and 9
#           --no-build           skip step 1 and use the crabapple binary already built
#           --keep               keep the temp dir (server log, reports) and print its path
# The last line is `N passed, M failed` over the non-cargo suites (pytest tests, node tests, and
# each Prism sweep as one check).
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

# ------------------------------------------------------------------------------ cargo tests
if [[ $SKIP_CARGO_TESTS == 0 ]]; then
    if command -v cargo-nextest >/dev/null; then
        step "cargo nextest run --workspace"
        cargo nextest run --workspace --no-tests=warn || fail "cargo nextest run --workspace"
        step "cargo test --workspace --doc"
        cargo test --workspace --doc || fail "cargo test --workspace --doc"
    else
        step "cargo test --workspace"
        cargo test --workspace || fail "cargo test --workspace"
    fi
fi

# ---------------------------------------------------------------------------------- clients
step "scripts/setup-clients.sh"
S0=$SECONDS
if ! scripts/setup-clients.sh; then
    fail "scripts/setup-clients.sh"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "client tools ready in $((SECONDS - S0))s"
PY="$REPO/tests/clients/.venv/bin/python"

step "start crabapple"
DATA="$TMP/data"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# CRABAPPLE_RECORD_OPS: the server appends `operationId<TAB>User-Agent` for every request it routes;
# our own raw requests send User-Agent crabapple-tests/*, everything else is a real client.
# A high hourly limit: the suites together make several thousand requests within the hour
# (the limit itself is covered by the Rust tests and the X-Rate-Limit checks).
CRABAPPLE_RECORD_OPS="$TMP/ops.tsv" "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" --rate-limit 100000 >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
ready=0
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    if "$PY" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "$BASE/crabapple/admin/status" 2>/dev/null; then ready=1; break; fi
    sleep 0.2
done
cat "$TMP/server.log"
if [[ $ready != 1 ]]; then
    fail "crabapple serve did not come up"
    echo "0 passed, 1 failed"
    exit 1
fi

export CRABAPPLE_BASE_URL="$BASE" CRABAPPLE_DATA="$DATA" CRABAPPLE_BIN="$BIN"

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
    "$PY" -c "import sys,urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='POST'), timeout=60)" \
        "$BASE/crabapple/admin/reset" >/dev/null || fail "POST /crabapple/admin/reset"
}

# pytest ------------------------------------------------------------------------------------
step "pytest tests/clients/python (codemagic-cli-tools, asconnect, raw HTTP)"
PYTEST_OK=0
timeout 900 "$PY" -m pytest tests/clients/python -p no:cacheprovider -rfE --tb=short \
    --junitxml="$TMP/pytest.xml" && PYTEST_OK=1
if [[ -f "$TMP/pytest.xml" ]]; then
    read -r p f s < <("$PY" - "$TMP/pytest.xml" <<'EOF'
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
else
    FAILED=$((FAILED + 1))
fi
[[ $PYTEST_OK == 1 ]] || fail "pytest tests/clients/python"
check_server "pytest"

# node --------------------------------------------------------------------------------------
reset_world
step "node --test tests/clients/node (appstore-connect-sdk)"
NODE_OK=0
(cd tests/clients/node && timeout 600 node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$TMP/node.tap" test/) && NODE_OK=1
np="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$TMP/node.tap" 2>/dev/null | tail -1)"
nf="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$TMP/node.tap" 2>/dev/null | tail -1)"
nc="$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$TMP/node.tap" 2>/dev/null | tail -1)"
ns="$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$TMP/node.tap" 2>/dev/null | tail -1)"
PASSED=$((PASSED + ${np:-0})); FAILED=$((FAILED + ${nf:-0} + ${nc:-0})); SKIPPED=$((SKIPPED + ${ns:-0}))
if [[ $NODE_OK != 1 ]]; then
    fail "node --test tests/clients/node"
    [[ -z "$nf" ]] && FAILED=$((FAILED + 1))
fi

check_server "node"

# Operations the real clients called, for `crabapple spec coverage` (only from a green run).
if [[ $PYTEST_OK == 1 && $NODE_OK == 1 && -s "$TMP/ops.tsv" ]]; then
    {
        echo "# Operation ids a real client (codemagic-cli-tools, asconnect, appstore-connect-sdk) called in the last"
        echo "# run of scripts/test.sh; written by that script, read by \`crabapple spec coverage\`."
        awk -F'\t' '$2 !~ /^crabapple-tests/ { print $1 }' "$TMP/ops.tsv" | LC_ALL=C sort -u
    } >"$TMP/exercised-ops.txt"
    if ! cmp -s "$TMP/exercised-ops.txt" tests/clients/exercised-ops.txt; then
        cp "$TMP/exercised-ops.txt" tests/clients/exercised-ops.txt
    fi
    echo "real clients exercised $(grep -vc '^#' tests/clients/exercised-ops.txt) operations (tests/clients/exercised-ops.txt)"
fi

# Apple's App Store Server libraries -------------------------------------------------------
reset_world
step "crates/storekit/tests/apple-libs/run.sh (Apple's Python and Node App Store Server libraries)"
if CRABAPPLE_BIN="$BIN" timeout 900 crates/storekit/tests/apple-libs/run.sh "$BASE" "$DATA"; then
    PASSED=$((PASSED + 1))
else
    FAILED=$((FAILED + 1))
    fail "Apple's App Store Server libraries (crates/storekit/tests/apple-libs/run.sh)"
fi
check_server "Apple's App Store Server libraries"

# prism ------------------------------------------------------------------------------------
# Apple's spec is read at run time, never committed. Without it (or without Prism) a sweep says
# SKIPPED and exits 0 on a developer's machine; with CI or CRABAPPLE_REQUIRE_SPEC=1 it exits 2.
SPEC="$REPO/../shared/spec/app-store-connect-openapi.json"
spec_required() { [[ "${CRABAPPLE_REQUIRE_SPEC:-}" == 1 || ( -n "${CI:-}" && "${CI:-}" != false && "${CI:-}" != 0 ) ]]; }
# prism_step NAME SCRIPT ARGS...: one sweep, counted as one check.
prism_step() {
    local name="$1"; shift
    reset_world
    step "$name"
    if [[ ! -f "$SPEC" ]] && ! spec_required; then
        echo "SKIPPED: Apple's spec is not at $SPEC (read at run time, never committed)"
        SKIPPED=$((SKIPPED + 1))
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
