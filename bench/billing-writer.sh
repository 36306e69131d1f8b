#!/usr/bin/env bash
# Batched billing writer: requests per second through the gateway against write transactions per
# second on the database (PostgreSQL), with billing and consume logs ON.
# 127.0.0.1 only; bounded (10 s of load). Usage: bench/billing-writer.sh [concurrency] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-32}
secs=${2:-10}
pg=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

cargo build --release -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load
work=$(mktemp -d)
db="onehub_bench_$$"
cleanup() { kill "${gw:-}" "${mock:-}" 2>/dev/null || true; sleep 0.5; psql -q "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
psql -q "$pg" -c "CREATE DATABASE $db" >/dev/null
dsn="${pg%/*}/$db"

./target/release/mock-upstream --port 0 >"$work/mock.out" &
mock=$!
for _ in $(seq 1 50); do grep -q MOCK_UPSTREAM_URL "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
mock_url=$(sed -n 's/^MOCK_UPSTREAM_URL=//p' "$work/mock.out")

port=$((20000 + RANDOM % 20000))
admin=BenchAdminToken0123456789abcdefg
PORT=$port SQL_DSN="$dsn" USER_TOKEN_SECRET=bench-secret-bench-secret-bench-secret SESSION_SECRET=bench-session-bench-session \
  INITIAL_ROOT_ACCESS_TOKEN=$admin LOG_LEVEL=warn ./target/release/one-hub >"$work/gw.log" 2>&1 &
gw=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && break; sleep 0.1; done
api() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
api -d "{\"type\":1,\"name\":\"mock\",\"key\":\"k\",\"models\":\"gpt-4o-mini\",\"base_url\":\"$mock_url\"}" "http://127.0.0.1:$port/api/channel/" >/dev/null
api -d '{"name":"bench","unlimited_quota":true}' "http://127.0.0.1:$port/api/token/" >/dev/null
key=$(api "http://127.0.0.1:$port/api/token/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"][0]["key"])')

stats() { psql -qtA "$pg" -c "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = '$db'"; }
flushes() { api "http://127.0.0.1:$port/api/sync/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["billing"]["flushes"])'; }

./target/release/bench-load --url "http://127.0.0.1:$port/v1/chat/completions" --key "sk-$key" --concurrency 4 --requests 200 --seconds 5 >/dev/null
sleep 1
IFS='|' read -r c0 i0 u0 < <(stats); f0=$(flushes)
result=$(./target/release/bench-load --url "http://127.0.0.1:$port/v1/chat/completions" --key "sk-$key" --concurrency "$conc" --requests 100000000 --seconds "$secs")
sleep 1
IFS='|' read -r c1 i1 u1 < <(stats); f1=$(flushes)
logs=$(psql -qtA "$dsn" -c "SELECT count(*) FROM logs WHERE type = 2")
python3 - "$result" "$c0" "$c1" "$i0" "$i1" "$u0" "$u1" "$f0" "$f1" "$logs" "$secs" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); c0, c1, i0, i1, u0, u1, f0, f1, logs, secs = map(float, sys.argv[2:])
el = r["elapsed_s"] + 1.0  # the stats window includes the 1 s settle after the load
print(f"| requests | req/s | writer flushes/s | rows inserted/s | rows updated/s | all PostgreSQL commits/s (reads included) | consume logs | errors |")
print(f"|---|---|---|---|---|---|---|---|")
print(f"| {r['requests']} | {r['rps']} | {(f1-f0)/el:.1f} | {(i1-i0)/el:.0f} | {(u1-u0)/el:.0f} | {(c1-c0)/el:.0f} | {int(logs)} | {r['errors']} |")
PY
