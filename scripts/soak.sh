#!/usr/bin/env bash
# Long forms of the hardening tests (issue 8), outside scripts/test.sh. Usage:
#   scripts/soak.sh [writers]
# writers: a real `crabapple serve` with 4 API writers while SOAK_WRITERS_EVENTS (default 2000)
#   `crabapple purchase` processes run SOAK_WRITERS_PARALLEL (default 8) at a time; fails on any
#   failed write, any 5xx, or a CLI event not listed and delivered.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-writers}
case "$WHAT" in
  writers)
    cargo build -q -p crabapple
    CRABAPPLE_WRITERS_EVENTS=${SOAK_WRITERS_EVENTS:-2000} \
    CRABAPPLE_WRITERS_PARALLEL=${SOAK_WRITERS_PARALLEL:-8} \
      cargo nextest run -p crabapple-storekit --test commerce --no-capture \
        writers::cli_events_while_the_server_writes_never_fail
    ;;
  *)
    echo "unknown soak '$WHAT' (writers)" >&2
    exit 2
    ;;
esac
