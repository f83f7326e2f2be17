#!/usr/bin/env bash
# Installs Apple's official App Store Server Libraries (Python + Node) next to this script,
# for the cross-check test `crates/storekit/tests/apple_libs.rs` and the suites `run.sh` runs
# against a live crabapple.
#
#   .venv/          Python virtualenv with app-store-server-library and pytest (requirements.txt)
#   node_modules/   @apple/app-store-server-library (see package.json / package-lock.json)
#
# Both directories are gitignored. Re-running is cheap and idempotent.
# Env: PYTHON (default python3), SKIP_PYTHON=1, SKIP_NODE=1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if [[ "${SKIP_PYTHON:-0}" != 1 ]]; then
  py="${PYTHON:-python3}"
  if [[ ! -x .venv/bin/python ]]; then
    "$py" -m venv .venv
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  .venv/bin/python -c 'import appstoreserverlibrary, pytest, importlib.metadata as m; print("python: app-store-server-library", m.version("app-store-server-library"))'
fi

if [[ "${SKIP_NODE:-0}" != 1 ]]; then
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
  node -e 'console.log("node: @apple/app-store-server-library", require("@apple/app-store-server-library/package.json").version)'
fi
