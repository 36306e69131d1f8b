#!/usr/bin/env bash
# The gateway against the fastest upstream available here: nginx answering a fixed chat
# completion from memory. All in one run, interleaved, on 127.0.0.1:
#   - nginx direct (the baseline);
#   - nginx `proxy_pass` to it with a keep-alive upstream pool (the practical limit of one hop);
#   - bench-passthrough (crates/hub-bench): the least an axum + reqwest service does to relay a
#     request (no auth, no JSON, no routing, no billing);
#   - this gateway with One Hub's defaults (MEMORY_CACHE_ENABLED unset, no metrics);
#   - this gateway with MEMORY_CACHE_ENABLED=true;
#   - this gateway with a finite-quota token (cache on).
# Each at c=64 (RPS, ratio to direct) and c=1 (p50/p99 and what the hop adds); billing and
# consume logs are on in every gateway. Needs nginx: installed from Debian's nginx-light package
# when missing (as root, or with passwordless sudo).
#
#   bench/nginx.sh            release build, 10 s per measurement, 2 interleaved rounds
#   bench/nginx.sh --quick    3 s per measurement, 1 round
#   BASELINE_BIN=/tmp/one-hub-before bench/nginx.sh --quick
#                             adds that binary with One Hub's defaults as one more row (A/B of
#                             a change in the same run)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=10; rounds=2
for a in "$@"; do
  case $a in
    --quick) secs=3; rounds=1 ;;
    *) echo "usage: bench/nginx.sh [--quick]" >&2; exit 2 ;;
  esac
done
nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -z "$nginx" ] && command -v apt-get >/dev/null; then
  echo "bench: installing nginx-light from Debian's packages (once)..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q nginx-light >&2 || true; else sudo -n apt-get install -y -q nginx-light >&2 || true; fi
  nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
fi
if [ -z "$nginx" ]; then
  echo "bench: nginx is not installed (Debian: apt-get install nginx-light); it is the upstream this benchmark measures against" >&2
  exit 1
fi
bin=target/release
cargo build --release -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load --bin bench-passthrough
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
. bench/common.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up_port=$(free_port); proxy_port=$(free_port)
body='{"id":"chatcmpl-nginx","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"tok tok tok "},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}'
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream fixed { server 127.0.0.1:$up_port; keepalive 128; }
  server {
    listen 127.0.0.1:$up_port;
    location / { default_type application/json; return 200 '$body'; }
  }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://fixed;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
started+=($!)
for _ in $(seq 1 50); do curl -sf -X POST "http://127.0.0.1:$up_port/v1/chat/completions" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "http://127.0.0.1:$proxy_port/v1/chat/completions" >/dev/null || { echo "bench: nginx did not start" >&2; cat "$work/nginx/logs/error.log" >&2; exit 1; }

# The minimal axum + reqwest relay, on the same upstream.
"$bin/bench-passthrough" --upstream "http://127.0.0.1:$up_port" >"$work/passthrough.out" &
pass_pid=$!
started+=($!)
for _ in $(seq 1 100); do grep -q PASSTHROUGH_URL "$work/passthrough.out" 2>/dev/null && break; sleep 0.1; done
pass_url=$(sed -n 's/^PASSTHROUGH_URL=//p' "$work/passthrough.out")
[ -n "$pass_url" ] || { echo "bench: bench-passthrough did not start" >&2; exit 1; }

# Every gateway's channel points at the nginx upstream.
mock_url="http://127.0.0.1:$up_port"
start_gateway defaults MEMORY_CACHE_ENABLED=false
defaults_url="http://127.0.0.1:$port/v1/chat/completions"; defaults_key=$key; defaults_pid=$gw
if [ -n "${BASELINE_BIN:-}" ]; then
  gw_bin=$(dirname "$BASELINE_BIN") start_gateway_named baseline "$(basename "$BASELINE_BIN")" MEMORY_CACHE_ENABLED=false
  baseline_url="http://127.0.0.1:$port/v1/chat/completions"; baseline_key=$key; baseline_pid=$gw
fi
start_gateway cached
cached_url="http://127.0.0.1:$port/v1/chat/completions"; cached_key=$key; cached_pid=$gw
start_gateway finite
finite_url="http://127.0.0.1:$port/v1/chat/completions"; finite_pid=$gw
admin=BenchAdminToken0123456789abcdefg
curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"finite","remain_quota":1000000000000,"unlimited_quota":false}' "http://127.0.0.1:$port/api/token/" >/dev/null
finite_key=sk-$(curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/api/token/?keyword=finite" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"][0]["key"])')

# name|url|key|pid of the hop (its CPU time per request is reported; "-" for nginx, whose
# upstream and proxy share one worker)
targets=(
  "nginx-direct|http://127.0.0.1:$up_port/v1/chat/completions|none|-"
  "nginx-proxy|http://127.0.0.1:$proxy_port/v1/chat/completions|none|-"
  "passthrough|$pass_url/v1/chat/completions|none|$pass_pid"
  "gateway-defaults|$defaults_url|$defaults_key|$defaults_pid"
  "gateway-cache|$cached_url|$cached_key|$cached_pid"
  "gateway-finite-token|$finite_url|$finite_key|$finite_pid"
)
[ -n "${BASELINE_BIN:-}" ] && targets+=("baseline|$baseline_url|$baseline_key|$baseline_pid")
# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { if [ "$1" = - ]; then echo 0; else awk '{print $14 + $15}' "/proc/$1/stat"; fi; }
tick_hz=$(getconf CLK_TCK)
: >"$work/results.jsonl"
for t in "${targets[@]}"; do
  IFS='|' read -r name url k pid <<<"$t"
  for c in 1 64; do "$bin/bench-load" --url "$url" --key "$k" --concurrency "$c" --requests 1000000 --seconds 1 --warmup 50 >/dev/null; done
done
for r in $(seq 1 "$rounds"); do
  for c in 64 1; do
    for t in "${targets[@]}"; do
      IFS='|' read -r name url k pid <<<"$t"
      before=$(cpu_ticks "$pid")
      res=$("$bin/bench-load" --url "$url" --key "$k" --concurrency "$c" --requests 10000000 --seconds "$secs")
      used=$(( $(cpu_ticks "$pid") - before ))
      echo "{\"kind\":\"$name\",\"c\":$c,\"cpu_s\":$(awk "BEGIN{print $used/$tick_hz}"),\"r\":$res}" >>"$work/results.jsonl"
    done
  done
done
python3 - "$work/results.jsonl" "$secs" "$rounds" <<'PY'
import json, sys, subprocess, datetime, os
rows = [json.loads(l) for l in open(sys.argv[1])]
def best(kind, c):
    rs = [dict(r["r"], cpu_s=r["cpu_s"]) for r in rows if r["kind"] == kind and r["c"] == c]
    return max(rs, key=lambda r: r["rps"]) if rs else None
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; commit {commit}; {os.cpu_count()} cores ({cpu}); {sys.argv[2]} s per measurement, best of {sys.argv[3]} interleaved round(s); load client bench-load (closed loop, keep-alive)")
print("- upstream: nginx answering a fixed chat completion from memory; gateways on SQLite with billing and consume logs on, no metrics")
print()
print("| target | c=64 RPS | / direct | hop CPU µs/request (c=64) | c=1 p50 / p99 ms | added p50 / p99 ms | errors |")
print("|---|---:|---:|---:|---|---|---:|")
d64, d1 = best("nginx-direct", 64), best("nginx-direct", 1)
labels = {
    "nginx-direct": "nginx direct (baseline)",
    "nginx-proxy": "nginx `proxy_pass`, keep-alive pool (one-hop limit)",
    "passthrough": "minimal axum + reqwest pass-through (bench-passthrough)",
    "gateway-defaults": "this gateway, One Hub's defaults (MEMORY_CACHE_ENABLED unset)",
    "gateway-cache": "this gateway, MEMORY_CACHE_ENABLED=true",
    "gateway-finite-token": "this gateway, cache on, a finite-quota token",
    "baseline": "BASELINE_BIN, One Hub's defaults",
}
for kind, label in labels.items():
    a, b = best(kind, 64), best(kind, 1)
    if not a or not b or not d64 or not d1:
        continue
    errors = a["errors"] + b["errors"]
    hop_cpu = f"{a['cpu_s'] * 1e6 / a['requests']:.1f}" if a['cpu_s'] > 0 else "–"
    print(f"| {label} | {a['rps']} | {a['rps']/d64['rps']:.2f} | {hop_cpu} | {b['p50_ms']} / {b['p99_ms']} | {b['p50_ms']-d1['p50_ms']:.3f} / {b['p99_ms']-d1['p99_ms']:.3f} | {errors} |")
PY
