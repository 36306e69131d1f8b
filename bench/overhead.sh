#!/usr/bin/env bash
# Gateway overhead with billing and usage logs ON: direct to the mock upstream vs through the
# gateway, interleaved in the same run, at concurrency 1, 16 and 64; streaming TTFB and chunk
# throughput; gateway RSS idle, under load and with 1,000 concurrent slow streams.
# 127.0.0.1 only; every run bounded in requests and seconds.
#
#   bench/overhead.sh            full run (release build; writes a Markdown table to stdout)
#   bench/overhead.sh --smoke    CI smoke: debug binaries, a few hundred requests, no targets
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
if $smoke; then
  bin=target/debug
  cargo build -q -p one-hub -p hub-testkit --bin one-hub --bin mock-upstream --bin bench-load
  secs=2; reqs=200; streams=50; rounds=1
else
  bin=target/release
  cargo build --release -q -p one-hub -p hub-testkit --bin one-hub --bin mock-upstream --bin bench-load
  secs=10; reqs=200000; streams=1000; rounds=2
fi
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

work=$(mktemp -d)
cleanup() { kill "${gw:-}" "${mock:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin/mock-upstream" --port 0 >"$work/mock.out" &
mock=$!
for _ in $(seq 1 100); do grep -q MOCK_UPSTREAM_URL "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
mock_url=$(sed -n 's/^MOCK_UPSTREAM_URL=//p' "$work/mock.out")
[ -n "$mock_url" ] || { echo "bench: the mock upstream did not start" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=BenchAdminToken0123456789abcdefg
PORT=$port SQLITE_PATH="$work/bench.db" INITIAL_ROOT_ACCESS_TOKEN=$admin LOG_LEVEL=warn \
  MEMORY_CACHE_ENABLED=true "$bin/one-hub" >"$work/gw.log" 2>&1 &
gw=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/api/status" >/dev/null || { echo "bench: the gateway did not start" >&2; cat "$work/gw.log" >&2; exit 1; }
api() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
api -d "{\"type\":1,\"name\":\"mock\",\"key\":\"k\",\"models\":\"gpt-4o-mini\",\"base_url\":\"$mock_url\"}" "http://127.0.0.1:$port/api/channel/" >/dev/null
api -d '{"name":"bench","unlimited_quota":true}' "http://127.0.0.1:$port/api/token/" >/dev/null
# Enough quota for any run (billing stays on: every request is priced, held and logged).
api -d '{"quota":1000000000000}' "http://127.0.0.1:$port/api/user/quota/1" >/dev/null
key=sk-$(api "http://127.0.0.1:$port/api/token/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"][0]["key"])')
direct="$mock_url/v1/chat/completions"
through="http://127.0.0.1:$port/v1/chat/completions"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$gw/status"; }

load() { "$bin/bench-load" --url "$1" --key "$key" --concurrency "$2" --requests "$reqs" --seconds "$secs" "${@:3}"; }
rss_idle=$(rss)
: >"$work/results.jsonl"
for c in 1 16 64; do
  load "$direct" "$c" --warmup 50 >/dev/null; load "$through" "$c" --warmup 50 >/dev/null
  for r in $(seq 1 "$rounds"); do
    echo "{\"kind\":\"direct\",\"c\":$c,\"r\":$(load "$direct" "$c")}" >>"$work/results.jsonl"
    if [ "$c" = 64 ]; then
      (sleep "$((secs / 2))"; rss >"$work/rss_load") &
      sampler=$!
    fi
    echo "{\"kind\":\"gateway\",\"c\":$c,\"r\":$(load "$through" "$c")}" >>"$work/results.jsonl"
  done
done
for r in $(seq 1 "$rounds"); do
  echo "{\"kind\":\"direct-stream\",\"c\":16,\"r\":$(load "$direct" 16 --stream --chunks 20)}" >>"$work/results.jsonl"
  echo "{\"kind\":\"gateway-stream\",\"c\":16,\"r\":$(load "$through" 16 --stream --chunks 20)}" >>"$work/results.jsonl"
done
# $streams concurrent slow streams (20 chunks, 100 ms apart ≈ 2 s each); RSS sampled mid-way.
( sleep 1; rss >"$work/rss_streams" ) &
sampler2=$!
echo "{\"kind\":\"slow-streams\",\"c\":$streams,\"r\":$("$bin/bench-load" --url "$through" --key "$key" --concurrency "$streams" --requests "$streams" --seconds 30 --stream --chunks 20 --delay-ms 100)}" >>"$work/results.jsonl"
wait "${sampler:-}" "${sampler2:-}" 2>/dev/null || true
logs=$(python3 - "$work/bench.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from logs where type = 2").fetchone()[0])
PY
)
python3 - "$work/results.jsonl" "$rss_idle" "$(cat "$work/rss_load" 2>/dev/null || echo 0)" "$(cat "$work/rss_streams" 2>/dev/null || echo 0)" "$logs" "$smoke" <<'PY'
import json, sys, statistics, subprocess, datetime, os
rows = [json.loads(l) for l in open(sys.argv[1])]
rss_idle, rss_load, rss_streams, logs, smoke = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "true"
def best(kind, c):
    rs = [r["r"] for r in rows if r["kind"] == kind and r["c"] == c]
    return max(rs, key=lambda r: r["rps"]) if rs else None
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; commit {commit}; {os.cpu_count()} cores ({cpu}); mode: {'smoke (debug)' if smoke else 'release'}")
print("- gateway: SQLite, billing and consume logs ON, MEMORY_CACHE_ENABLED=true, one OpenAI channel on the mock, unlimited token")
print()
print("| c | direct RPS | gateway RPS | ratio | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms | errors |")
print("|---:|---:|---:|---:|---|---|---|---:|")
for c in (1, 16, 64):
    d, g = best("direct", c), best("gateway", c)
    if not d or not g: continue
    print(f"| {c} | {d['rps']} | {g['rps']} | {g['rps']/d['rps']*100:.0f} % | {d['p50_ms']} / {d['p99_ms']} | {g['p50_ms']} / {g['p99_ms']} | {g['p50_ms']-d['p50_ms']:.3f} / {g['p99_ms']-d['p99_ms']:.3f} | {g['errors']} |")
d, g = best("direct-stream", 16), best("gateway-stream", 16)
if d and g:
    print()
    print("| streaming, c=16, 20 chunks | direct | gateway | added |")
    print("|---|---:|---:|---:|")
    print(f"| TTFB p50 ms | {d['ttfb_p50_ms']} | {g['ttfb_p50_ms']} | {g['ttfb_p50_ms']-d['ttfb_p50_ms']:.3f} |")
    print(f"| TTFB p99 ms | {d['ttfb_p99_ms']} | {g['ttfb_p99_ms']} | {g['ttfb_p99_ms']-d['ttfb_p99_ms']:.3f} |")
    print(f"| chunks/s | {d['frames_per_s']} | {g['frames_per_s']} | |")
s = best("slow-streams", [r["c"] for r in rows if r["kind"] == "slow-streams"][0])
print()
print("| gateway RSS | kB |")
print("|---|---:|")
print(f"| idle | {rss_idle} |")
print(f"| under c=64 load | {rss_load} |")
print(f"| {s['concurrency']} concurrent slow streams ({s['requests']} completed, {s['errors']} errors) | {rss_streams} |")
print()
print(f"Consume logs written: {logs} (one per successful relayed request).")
PY
