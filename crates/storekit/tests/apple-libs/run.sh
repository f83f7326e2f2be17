#!/usr/bin/env bash
# Runs Apple's official App Store Server Libraries — Python `app-store-server-library` (pytest)
# and Node `@apple/app-store-server-library` (node --test), unmodified — against a running
# crabapple: every AppStoreServerAPIClient method over real ledger state (with error paths) and
# SignedDataVerifier (crabapple's root, online checks off, strict) on everything it signs; and
# both clients' Retention Messaging API methods (test_retention_messaging.py,
# retention_messaging.test.mjs).
#
#   crates/storekit/tests/apple-libs/run.sh BASE_URL DATA_DIR
#
# BASE_URL is the listener (e.g. http://127.0.0.1:8686); DATA_DIR its data directory. The
# suites create their own app, products and In-App Purchase key through the admin and App
# Store Connect APIs, run a local notification receiver, and advance the virtual clock.
# Installs the libraries on first use (setup-apple-libs.sh). Env: CRABAPPLE_BIN (a crabapple
# binary, to cross-check `crabapple ca export`), SKIP_PYTHON=1, SKIP_NODE=1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${1:?usage: run.sh BASE_URL DATA_DIR}"
data="${2:?usage: run.sh BASE_URL DATA_DIR}"
cd "$here"
if [[ ! -x .venv/bin/python || ! -d node_modules/@apple/app-store-server-library ]] \
  || ! .venv/bin/python -c 'import pytest, appstoreserverlibrary' 2>/dev/null; then
  ./setup-apple-libs.sh
fi
export CRABAPPLE_BASE_URL="$base" CRABAPPLE_DATA="$data"
status=0
if [[ "${SKIP_PYTHON:-0}" != 1 ]]; then
  echo "== Apple's Python library (app-store-server-library) against $base"
  .venv/bin/python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning test_server_api.py test_retention_messaging.py test_apple_hosts.py || status=$?
fi
if [[ "${SKIP_NODE:-0}" != 1 ]]; then
  echo "== Apple's Node library (@apple/app-store-server-library) against $base"
  node --test server_api.test.mjs retention_messaging.test.mjs apple_hosts.test.mjs || status=$?
fi
exit "$status"
