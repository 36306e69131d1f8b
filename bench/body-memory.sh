#!/usr/bin/env bash
# Request-body memory: peak RSS (VmHWM) of the gateway while 8 clients each POST a 30 MB chat
# body at once, with the default HTTP_BODY_MEMORY_MB (128) and with a larger budget (512), to
# show that the budget, not the number of clients, bounds what bodies cost (a relay body is
# counted at 3× its size). Not a pass/fail test;
# prints a table for bench/README.md. Runs only on 127.0.0.1 with the mock upstream.
# Usage: [BIN=target/debug] bench/body-memory.sh [budgets in MiB…]   (default: 128 512)
set -euo pipefail
cd "$(dirname "$0")/.."

# BIN=target/debug uses an existing debug build instead (indicative only).
bin=${BIN:-target/release}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p one-hub -p hub-mock --bin one-hub --bin mock-upstream
fi
source bench/common.sh

budgets=("$@")
[ ${#budgets[@]} -gt 0 ] || budgets=(128 512)

# One 30 MB chat body (a single long word: the mock's answer stays small).
python3 - "$work/body.json" <<'PY'
import json, sys
json.dump({"model": "gpt-4o-mini",
           "messages": [{"role": "user", "content": "a" * (30 * 1000 * 1000)}],
           "mock": {"answer_delay_ms": 300}}, open(sys.argv[1], "w"))
PY

start_mock
echo "| HTTP_BODY_MEMORY_MB | clients × body | answers (status: count) | peak RSS (VmHWM) | RSS before |"
echo "|---|---|---|---|---|"
for mb in "${budgets[@]}"; do
  start_gateway "b$mb" HTTP_BODY_MEMORY_MB="$mb"
  before=$(awk '/^VmRSS/ {print $2}' "/proc/$gw/status")
  clients=()
  for i in $(seq 1 8); do
    curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $key" \
      -H 'Content-Type: application/json' --data-binary "@$work/body.json" \
      "http://127.0.0.1:$port/v1/chat/completions" >"$work/status.$mb.$i" &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  peak=$(awk '/^VmHWM/ {print $2}' "/proc/$gw/status")
  codes=$(cat "$work"/status."$mb".* | sort | uniq -c | awk '{printf "%s: %s ", $2, $1}')
  echo "| $mb | 8 × 30 MB | ${codes}| $((peak / 1024)) MiB | $((before / 1024)) MiB |"
  kill "$gw" 2>/dev/null || true
done
