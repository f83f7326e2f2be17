#!/usr/bin/env bash
# Install the real API clients the black-box suites drive, into gitignored
# folders of the work tree:
#   tests/clients/.venv          Python venv: codemagic-cli-tools, asconnect, pytest, requests, PyJWT
#   tests/clients/ponytech/.venv Python venv: Ponytech appstoreconnect (needs PyJWT 1.x, hence its own)
#   tests/clients/surquest/.venv Python venv: surquest analytics reports client (cryptography < 46)
#   tests/clients/node/node_modules   npm appstore-connect-sdk
#   tests/clients/ruby/node_modules   npm @expo/traveling-fastlane-linux (fastlane + spaceship
#                                     with its own Ruby; driven by tests/clients/python/test_fastlane.py)
#   tests/prism/node_modules          npm @stoplight/prism-cli
# Every version is pinned (tests/clients/requirements.txt, the package-lock.json
# files). A folder is reinstalled only when its pin file changed since the last
# install (a stamp holding the pin file's sha256), so a second run takes a second.
#
# Usage: scripts/setup-clients.sh [--force]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf '[setup-clients] %s\n' "$*" >&2; }
die() { printf '[setup-clients] ERROR: %s\n' "$*" >&2; exit 1; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- Python venv
# setup_python [VENV_DIR REQUIREMENTS] (default: tests/clients/.venv, tests/clients/requirements.txt)
setup_python() {
    local dir="${1:-$REPO/tests/clients/.venv}"
    local req="${2:-$REPO/tests/clients/requirements.txt}"
    local stamp="$dir/.crabapple-stamp"
    local want
    want="$(sha "$req")"
    if [[ $FORCE == 0 && -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "python venv up to date ($dir)"
        return
    fi
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || die "python3 not found (Debian: apt-get install -y python3 python3-venv)"
    local t0=$SECONDS
    if [[ ! -x "$dir/bin/python" ]]; then
        log "creating venv $dir"
        "$py" -m venv "$dir" || die "python3 -m venv failed (Debian: apt-get install -y python3-venv)"
    fi
    log "installing ${req#"$REPO"/}"
    "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
    echo "$want" > "$stamp"
    log "python venv ready in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- npm folders
setup_npm() {
    local dir="$1"
    local lock="$dir/package-lock.json"
    local stamp="$dir/node_modules/.crabapple-stamp"
    command -v npm >/dev/null || die "npm not found (Debian: apt-get install -y nodejs npm)"
    [[ -f "$lock" ]] || die "missing $lock"
    local want
    want="$(sha "$lock")"
    if [[ $FORCE == 0 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "node_modules up to date (${dir#"$REPO"/})"
        return
    fi
    local t0=$SECONDS
    log "npm ci in ${dir#"$REPO"/}"
    # SCARF_ANALYTICS: prism pulls in @scarf/scarf, whose postinstall phones home.
    (cd "$dir" && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
    log "${dir#"$REPO"/} ready in $((SECONDS - t0))s"
}

setup_python
setup_python "$REPO/tests/clients/ponytech/.venv" "$REPO/tests/clients/ponytech/requirements.txt"
setup_python "$REPO/tests/clients/surquest/.venv" "$REPO/tests/clients/surquest/requirements.txt"
setup_npm "$REPO/tests/clients/node"
setup_npm "$REPO/tests/clients/ruby"
setup_npm "$REPO/tests/prism"
