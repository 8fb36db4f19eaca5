#!/usr/bin/env bash
# Fuzzes the HTTP API of all four services of a `concord demo` with schemathesis, from each
# service's own OpenAPI document, as the operator. Fails when any answer is a 5xx or does not
# conform to the document (status code, content type, headers, body schema), when the service
# takes input the document calls invalid, or refuses input it calls valid.
#
# Usage: tests/schemathesis.sh            (after `cargo test` or `cargo build`; works locally too)
# Environment:
#   CONCORD_BIN             the binary to test (default: target/debug/concord, built if missing)
#   SCHEMATHESIS_EXAMPLES   test cases per operation and phase (default 30)
#   SCHEMATHESIS_MAX_TIME   time budget per service, seconds (default 40)
#   SCHEMATHESIS_PORT       the demo's first port (default 27070; it takes four)
#   SCHEMATHESIS_VENV       where schemathesis is installed (default .schemathesis-venv, reused)
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: a new schemathesis may add checks and fail a run that passed.
VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-30}
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-40}
PORT=${SCHEMATHESIS_PORT:-27070}
VENV=${SCHEMATHESIS_VENV:-.schemathesis-venv}
BIN=${CONCORD_BIN:-target/debug/concord}

if [ ! -x "$BIN" ]; then
  echo "building $BIN"
  cargo build --bin concord
fi

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "installing schemathesis $VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

DATA=$(mktemp -d)
LOG="$DATA/demo.log"
DEMO=
cleanup() {
  if [ -n "$DEMO" ]; then
    kill "$DEMO" 2>/dev/null || true
    wait "$DEMO" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

# The demo with its sample story, so that lists and lookups find something.
"$BIN" demo --seed --data "$DATA" --port "$PORT" --sync-interval-ms 200 >"$LOG" 2>&1 &
DEMO=$!
for _ in $(seq 1 120); do
  grep -q "Press Ctrl-C" "$LOG" 2>/dev/null && break
  if ! kill -0 "$DEMO" 2>/dev/null; then
    cat "$LOG"
    echo "the demo did not start"
    exit 1
  fi
  sleep 0.5
done
grep -q "Press Ctrl-C" "$LOG" || {
  cat "$LOG"
  echo "the demo did not come up in time"
  exit 1
}
TOKEN=$(sed -n 's/^operator = "\(.*\)"$/\1/p' "$DATA/credentials.toml")
[ -n "$TOKEN" ] || {
  echo "no operator token in $DATA/credentials.toml"
  exit 1
}

failed=()
for index in 0 1 2 3; do
  port=$((PORT + index))
  name=$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["service"])' "http://127.0.0.1:$port/health")
  printf '\n== schemathesis: %s (port %s)\n' "$name" "$port"
  # Every check but ensure_resource_availability: it takes a 404 after a create for the
  # created resource missing, but the se-group's scores name an assignment in the path and a
  # student in the body, and a 404 names whichever is unknown (a per-operation setting does
  # not reach the stateful phase). --generation-database none: each run starts afresh.
  if ! "$VENV/bin/schemathesis" --config-file tests/schemathesis.toml \
    run "http://127.0.0.1:$port/api/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks all \
    --exclude-checks ensure_resource_availability \
    --max-examples "$EXAMPLES" \
    --max-time "$MAX_TIME" \
    --request-timeout 10 \
    --workers 1 \
    --seed 7 \
    --generation-database none \
    --no-color \
    --output-truncate true; then
    failed+=("$name")
  fi
done

if ! kill -0 "$DEMO" 2>/dev/null; then
  cat "$LOG"
  echo "the demo died during the run"
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis found problems in: ${failed[*]}"
  echo "$((4 - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
echo "4 passed, 0 failed"
