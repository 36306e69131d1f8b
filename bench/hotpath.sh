#!/usr/bin/env bash
# What the relay's limits and channel health cost on the hot path, in instructions per relayed
# request (callgrind counts instructions, not seconds: the same build and inputs give the same
# count whatever else the machine does) and, with Redis, in added latency at c=1.
#
#   bench/hotpath.sh [REQUESTS]          (default 3000, at c=4 after 300 of warm-up)
#   BASELINE_BIN=dir bench/hotpath.sh    adds the one-hub in `dir` (another build) as a row
#
# Rows, each a fresh gateway under callgrind on SQLite with billing and consume logs on:
#   off        no limit applies (the default group's api_rate 0, a token without limits): the
#              checks that run anyway (the limits' "nothing to do", health's success path)
#   group      the user group's api_rate (per node, no Redis)
#   all        api_rate and the token's rpm, tpm and concurrency (per node)
#   all+redis  the same through Redis (one script per request; the round trip is not in the
#              instruction count: see the latency rows below)
# Then, without valgrind: p50 latency at c=1 with every limit on, without and with Redis.
# Needs valgrind (callgrind_control) and a Redis on 127.0.0.1:6379 for the Redis rows.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000}
bin=target/release
cargo build --release -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load
command -v callgrind_control >/dev/null || { echo "hotpath: valgrind is not installed" >&2; exit 1; }
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
. bench/common.sh
start_mock

admin=BenchAdminToken0123456789abcdefg
api() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }

# A token with every limit far above what the run sends; prints its key.
limited_token() {
  api -d '{"name":"limited","unlimited_quota":true,"setting":{"rate_limits":{"rpm":1000000000,"tpm":1000000000000,"concurrency":1000}}}' \
    "http://127.0.0.1:$port/api/token/" >/dev/null
  echo "sk-$(api "http://127.0.0.1:$port/api/token/?size=100" | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin)["data"]["data"] if t["name"]=="limited"][0]["key"])')"
}

group_rate() { # RATE
  api "http://127.0.0.1:$port/api/user_group/?size=100" \
    | python3 -c "import json,sys; g=[g for g in json.load(sys.stdin)['data']['data'] if g['symbol']=='default'][0]; g['api_rate']=$1; print(json.dumps(g))" \
    | api -X PUT -d @- "http://127.0.0.1:$port/api/user_group/" >/dev/null
}

# run NAME MODE [K=V…]: MODE is off, group or all; prints "NAME instructions/request".
run() {
  local name=$1 mode=$2; shift 2
  local out="$work/$name.cg"
  start_gateway_named "$name" one-hub "$@" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out"
  local k=$key
  case $mode in
    group) group_rate 1000000000 ;;
    all) group_rate 1000000000; k=$(limited_token) ;;
  esac
  sleep 1
  local url="http://127.0.0.1:$port/v1/chat/completions"
  "$bin/bench-load" --url "$url" --key "$k" --concurrency 4 --requests 300 --seconds 120 >/dev/null
  callgrind_control -i on "$gw" >/dev/null
  "$bin/bench-load" --url "$url" --key "$k" --concurrency 4 --requests "$n" --seconds 600 >"$work/$name.json"
  callgrind_control -i off "$gw" >/dev/null
  callgrind_control -d "$gw" >/dev/null
  sleep 2
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true

  local total
  total=$(cat "$out"* | sed -n 's/^totals: //p' | awk '{s += $1} END {printf "%d", s}')
  local ok errors
  ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$work/$name.json")
  errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$work/$name.json")
  printf '%-22s %8.0f instructions/request  (%s ok, %s errors)\n' "$name" "$((total / n))" "$ok" "$errors"
}

echo "== instructions per relayed request (callgrind, c=4, $n requests) =="
if [ -n "${BASELINE_BIN:-}" ]; then
  gw_bin=$BASELINE_BIN run baseline-off off
fi
run off off
run group group
run all all
run all+redis all REDIS_CONN_STRING="$redis_url"

echo "== p50 latency at c=1, every limit on (no valgrind) =="
lat() { # NAME [K=V…]
  local name=$1; shift
  start_gateway "$name" "$@"
  group_rate 1000000000
  local k
  k=$(limited_token)
  sleep 1
  local url="http://127.0.0.1:$port/v1/chat/completions"
  "$bin/bench-load" --url "$url" --key "$k" --concurrency 1 --requests 500 --seconds 60 >/dev/null
  "$bin/bench-load" --url "$url" --key "$k" --concurrency 1 --requests 3000 --seconds 120 >"$work/$name.json"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%-22s p50 %.3f ms  p99 %.3f ms  (%d ok)" % (sys.argv[2], r["p50_ms"], r["p99_ms"], r["requests"]))' "$work/$name.json" "$name"
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
}
lat all-local
lat all-redis REDIS_CONN_STRING="$redis_url"
start_gateway plain
url="http://127.0.0.1:$port/v1/chat/completions"
"$bin/bench-load" --url "$url" --key "$key" --concurrency 1 --requests 500 --seconds 60 >/dev/null
"$bin/bench-load" --url "$url" --key "$key" --concurrency 1 --requests 3000 --seconds 120 >"$work/plain.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%-22s p50 %.3f ms  p99 %.3f ms  (%d ok)" % ("limits off", r["p50_ms"], r["p99_ms"], r["requests"]))' "$work/plain.json"
