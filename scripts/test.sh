#!/usr/bin/env bash
# The project's test command.
#
#   1. cargo build -p crabapple                     (debug)
#   2. cargo nextest run --workspace (+ doctests)    (or cargo test --workspace without nextest)
#   3. scripts/setup-clients.sh                     (real clients into gitignored dirs, if missing)
#   4. crabapple serve on a free port in a temp data dir (+ a recording proxy for the real clients)
#   5. tests/clients/python  pytest: codemagic-cli-tools, asconnect, raw HTTP checks
#   6. tests/clients/node    node --test: appstore-connect-sdk
#   7. tests/prism/sweep.py  every GET operation of Apple's spec through Prism's validation proxy
#   8. stops everything; exits non-zero if anything failed
#
# Options:  --skip-cargo-tests   skip step 2          --skip-prism   skip step 7
#           --keep               keep the temp dir (server log, reports) and print its path
# The last line is `N passed, M failed` over the non-cargo suites (pytest tests, node tests, and
# the Prism sweep as one check).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

SKIP_CARGO_TESTS=0
SKIP_PRISM=0
KEEP=0
for a in "$@"; do
    case "$a" in
        --skip-cargo-tests) SKIP_CARGO_TESTS=1 ;;
        --skip-prism) SKIP_PRISM=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $a" >&2; exit 2 ;;
    esac
done

T0=$SECONDS
TMP="$(mktemp -d "${TMPDIR:-/tmp}/crabapple-test.XXXXXX")"
SERVER_PID=""
RECORDER_PID=""
FAILED_STEPS=()
PASSED=0
FAILED=0
SKIPPED=0

step() { printf '\n==== %s  (+%ds)\n' "$*" "$((SECONDS - T0))"; }
fail() { FAILED_STEPS+=("$1"); printf '**** FAILED: %s\n' "$1"; }

cleanup() {
    local rc=$?
    [[ -n "$RECORDER_PID" ]] && kill "$RECORDER_PID" 2>/dev/null && wait "$RECORDER_PID" 2>/dev/null
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
step "cargo build -p crabapple"
if ! cargo build -p crabapple; then
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
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >"$TMP/server.log" 2>&1 &
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

# The real clients go through a recording proxy so we learn which operations they called.
"$PY" tests/clients/recorder.py --listen 127.0.0.1:0 --upstream "$BASE" \
    --log "$TMP/requests.tsv" --port-file "$TMP/recorder.port" >"$TMP/recorder.log" 2>&1 &
RECORDER_PID=$!
for _ in $(seq 1 100); do [[ -s "$TMP/recorder.port" ]] && break; sleep 0.1; done
CLIENT_URL="http://127.0.0.1:$(cat "$TMP/recorder.port" 2>/dev/null || echo 0)"
: >"$TMP/requests.tsv"

export CRABAPPLE_BASE_URL="$BASE" CRABAPPLE_CLIENT_URL="$CLIENT_URL" CRABAPPLE_DATA="$DATA" CRABAPPLE_BIN="$BIN"

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

# Operations the real clients called (successfully), for `crabapple spec coverage`.
if [[ $PYTEST_OK == 1 && $NODE_OK == 1 && -s "$TMP/requests.tsv" ]]; then
    {
        echo "# Operation ids a real client (codemagic-cli-tools, asconnect, appstore-connect-sdk) called in the last"
        echo "# run of scripts/test.sh; written by that script, read by \`crabapple spec coverage\`."
        "$PY" tests/clients/recorder.py --map "$TMP/requests.tsv" --manifest crates/spec/manifest.json
    } >"$TMP/exercised-ops.txt"
    if ! cmp -s "$TMP/exercised-ops.txt" tests/clients/exercised-ops.txt; then
        cp "$TMP/exercised-ops.txt" tests/clients/exercised-ops.txt
    fi
    echo "real clients exercised $(grep -vc '^#' tests/clients/exercised-ops.txt) operations (tests/clients/exercised-ops.txt)"
fi
kill "$RECORDER_PID" 2>/dev/null; wait "$RECORDER_PID" 2>/dev/null; RECORDER_PID=""

# prism ------------------------------------------------------------------------------------
if [[ $SKIP_PRISM == 0 ]]; then
    reset_world
    step "tests/prism/sweep.py (Prism validation proxy, every GET operation)"
    SPEC="$REPO/../shared/spec/app-store-connect-openapi.json"
    if [[ ! -f "$SPEC" ]]; then
        echo "SKIPPED: Apple's spec is not at $SPEC (read at run time, never committed)"
        SKIPPED=$((SKIPPED + 1))
    elif timeout 1200 "$PY" tests/prism/sweep.py --base "$BASE" --data "$DATA" --bin "$BIN" \
        --report "$TMP/sweep.json"; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        fail "tests/prism/sweep.py"
    fi
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
