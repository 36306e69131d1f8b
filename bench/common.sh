# Shared by the bench scripts (sourced; needs $bin, where the binaries are; $gw_bin, if set, is
# where start_gateway takes one-hub from).
#   start_mock                  starts the mock upstream; sets $mock_url
#   start_gateway NAME [K=V…]   starts a gateway on 127.0.0.1 (SQLite file $work/NAME.db, billing
#                               and consume logs on, MEMORY_CACHE_ENABLED=true, extra environment
#                               K=V…), creates an OpenAI channel on the mock and an unlimited
#                               token through the admin API and tops the user up; sets $gw (pid),
#                               $port, $key and $db
# Everything started is stopped when the script exits.

work=$(mktemp -d)
started=()
cleanup() {
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_mock() {
  "$bin/mock-upstream" --port 0 >"$work/mock.out" &
  started+=($!)
  for _ in $(seq 1 100); do grep -q MOCK_UPSTREAM_URL "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
  mock_url=$(sed -n 's/^MOCK_UPSTREAM_URL=//p' "$work/mock.out")
  [ -n "$mock_url" ] || { echo "bench: the mock upstream did not start" >&2; exit 1; }
}

start_gateway() { start_gateway_named "$1" one-hub "${@:2}"; }

# start_gateway_named NAME BINARY [K=V…]: start_gateway with another binary of ${gw_bin:-$bin}.
start_gateway_named() {
  local name=$1 exe=$2; shift 2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  db="$work/$name.db"
  local admin=BenchAdminToken0123456789abcdefg
  env PORT="$port" SQLITE_PATH="$db" INITIAL_ROOT_ACCESS_TOKEN=$admin LOG_LEVEL=warn GLOBAL_API_RATE_LIMIT=0 \
    MEMORY_CACHE_ENABLED=true "$@" "${gw_bin:-$bin}/$exe" >"$work/$name.log" 2>&1 &
  gw=$!
  started+=("$gw")
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/api/status" >/dev/null || { echo "bench: the gateway did not start" >&2; cat "$work/$name.log" >&2; exit 1; }
  api() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
  api -d "{\"type\":1,\"name\":\"mock\",\"key\":\"k\",\"models\":\"gpt-4o-mini\",\"base_url\":\"$mock_url\"}" "http://127.0.0.1:$port/api/channel/" >/dev/null
  # The load runs as one user: lift the default group's per-user limit (api_rate, 600 a minute).
  api "http://127.0.0.1:$port/api/user_group/?size=100" \
    | python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin)["data"]["data"] if g["symbol"]=="default"][0]; g["api_rate"]=0; print(json.dumps(g))' \
    | api -X PUT -d @- "http://127.0.0.1:$port/api/user_group/" >/dev/null
  api -d '{"name":"bench","unlimited_quota":true}' "http://127.0.0.1:$port/api/token/" >/dev/null
  # Enough quota for any run (billing stays on: every request is priced, held and logged).
  api -d '{"quota":1000000000000}' "http://127.0.0.1:$port/api/user/quota/1" >/dev/null
  key=sk-$(api "http://127.0.0.1:$port/api/token/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"][0]["key"])')
}
