#!/usr/bin/env bash
# Streaming memory check: RSS of the gateway after a 50,000-chunk stream minus RSS after a
# 1,000-chunk stream must be at most 2 MB (memory stays flat on long streams).
# Runs only on 127.0.0.1 with the mock upstream; bounded in time. Usage: bench/stream-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p one-hub -p hub-mock --bin one-hub --bin mock-upstream
work=$(mktemp -d)
cleanup() { kill "${gw:-}" "${mock:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

./target/release/mock-upstream --port 0 >"$work/mock.out" &
mock=$!
for _ in $(seq 1 50); do grep -q MOCK_UPSTREAM_URL "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
mock_url=$(sed -n 's/^MOCK_UPSTREAM_URL=//p' "$work/mock.out")

port=$((20000 + RANDOM % 20000))
admin=BenchAdminToken0123456789abcdefg
PORT=$port SQLITE_PATH="$work/bench.db" INITIAL_ROOT_ACCESS_TOKEN=$admin LOG_LEVEL=warn \
  ./target/release/one-hub >"$work/gw.log" 2>&1 &
gw=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && break; sleep 0.1; done

api() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
api -d "{\"type\":1,\"name\":\"mock\",\"key\":\"k\",\"models\":\"m\",\"base_url\":\"$mock_url\"}" "http://127.0.0.1:$port/api/channel/" >/dev/null
api -d '{"name":"bench","unlimited_quota":true}' "http://127.0.0.1:$port/api/token/" >/dev/null
key=$(api "http://127.0.0.1:$port/api/token/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"][0]["key"])')

stream() {
  curl -sfN -H "Authorization: Bearer sk-$key" -H 'Content-Type: application/json' \
    -d "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"chunks\":$1}}" \
    "http://127.0.0.1:$port/v1/chat/completions" | grep -c '^data: ' || true
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$gw/status"; }

frames_small=$(stream 1000)
stream 1000 >/dev/null
rss_small=$(rss_kb)
frames_big=$(stream 50000)
rss_big=$(rss_kb)
diff=$((rss_big - rss_small))
echo "frames: ${frames_small} (1,000-chunk stream), ${frames_big} (50,000-chunk stream)"
echo "gateway RSS after 1,000-chunk stream: ${rss_small} kB; after 50,000-chunk stream: ${rss_big} kB; difference: ${diff} kB"
if [ "$frames_big" -lt 50000 ]; then echo "FAIL: the long stream was cut short"; exit 1; fi
if [ "$diff" -gt 2048 ]; then echo "FAIL: RSS grew by more than 2 MB"; exit 1; fi
echo "PASS: memory stays flat on a long stream (limit 2048 kB)"
