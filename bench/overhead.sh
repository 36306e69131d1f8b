#!/usr/bin/env bash
# Gateway overhead with billing and usage logs ON: direct to the mock upstream vs through the
# gateway, interleaved in the same run, at concurrency 1, 16 and 64; streaming TTFB and chunk
# throughput; gateway RSS idle, under load and with 1,000 concurrent slow streams.
# 127.0.0.1 only; every run bounded in requests and seconds. The comparison against nginx (the
# fastest upstream here), nginx proxy_pass and a minimal pass-through is bench/nginx.sh; this
# script keeps the mock as the upstream for the streaming shapes and memory figures.
#
#   bench/overhead.sh            full run (release build; writes Markdown tables to stdout)
#   bench/overhead.sh --no-oha   full run without the oha cross-check
#   bench/overhead.sh --smoke    CI smoke: debug binaries, a few hundred requests, no targets
#
# The full run also measures direct vs gateway with oha (https://crates.io/crates/oha), an
# independent load tool; when oha is neither on PATH nor in ~/.cargo/bin it is installed with
# `cargo install oha --locked` (several minutes, once).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false; use_oha=true
for a in "$@"; do
  case $a in
    --smoke) smoke=true; use_oha=false ;;
    --no-oha) use_oha=false ;;
    *) echo "usage: bench/overhead.sh [--smoke | --no-oha]" >&2; exit 2 ;;
  esac
done
oha=""
if $use_oha; then
  oha=$(command -v oha || true)
  [ -z "$oha" ] && [ -x "$HOME/.cargo/bin/oha" ] && oha="$HOME/.cargo/bin/oha"
  if [ -z "$oha" ]; then
    echo "bench: installing oha with cargo (once; several minutes)..." >&2
    cargo install oha --locked >&2
    oha="$HOME/.cargo/bin/oha"
  fi
fi
if $smoke; then
  bin=target/debug
  cargo build -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load
  secs=2; reqs=200; streams=50; rounds=1
else
  bin=target/release
  cargo build --release -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load
  secs=10; reqs=200000; streams=1000; rounds=2
fi
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

. bench/common.sh
start_mock
# The measured gateway records Prometheus metrics (METRICS_USER/METRICS_PASSWORD set).
start_gateway gw METRICS_USER=bench METRICS_PASSWORD=bench-metrics-secret
direct="$mock_url/v1/chat/completions"
through="http://127.0.0.1:$port/v1/chat/completions"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$gw/status"; }

load() { "$bin/bench-load" --url "$1" --key "$key" --concurrency "$2" --requests "$reqs" --seconds "$secs" "${@:3}"; }
rss_idle=$(rss)
: >"$work/results.jsonl"
row() { echo "{\"kind\":\"$1\",\"c\":$2,\"r\":$3}" >>"$work/results.jsonl"; }
for c in 1 16 64; do
  load "$direct" "$c" --warmup 50 >/dev/null; load "$through" "$c" --warmup 50 >/dev/null
  for r in $(seq 1 "$rounds"); do
    row direct "$c" "$(load "$direct" "$c")"
    if [ "$c" = 64 ]; then
      (sleep "$((secs / 2))"; rss >"$work/rss_load") &
      sampler=$!
    fi
    row gateway "$c" "$(load "$through" "$c")"
  done
done
for c in 1 16; do
  for r in $(seq 1 "$rounds"); do
    row direct-stream "$c" "$(load "$direct" "$c" --stream --chunks 20)"
    row gateway-stream "$c" "$(load "$through" "$c" --stream --chunks 20)"
  done
done
# $streams concurrent slow streams (20 chunks, 100 ms apart ≈ 2 s each); RSS sampled mid-way.
( sleep 1; rss >"$work/rss_streams" ) &
sampler2=$!
row slow-streams "$streams" "$("$bin/bench-load" --url "$through" --key "$key" --concurrency "$streams" --requests "$streams" --seconds 30 --stream --chunks 20 --delay-ms 100)"
wait "${sampler:-}" "${sampler2:-}" 2>/dev/null || true
main_db=$db
# The same comparison with oha (one run each, interleaved, 10 s each).
oha_run() {
  "$oha" -z "${secs}s" -w -c "$2" --no-tui --output-format json -m POST \
    -H "Authorization: Bearer $key" -H "content-type: application/json" \
    -d '{"model":"gpt-4o-mini","stream":false,"messages":[{"role":"user","content":"Say hello"}]}' "$1" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["summary"]; p=d["latencyPercentiles"]; c=d.get("statusCodeDistribution") or {}
print(json.dumps({"rps": round(s["requestsPerSec"],1), "p50_ms": round(p["p50"]*1000,3), "p99_ms": round(p["p99"]*1000,3), "requests": sum(c.values()), "errors": sum(v for k,v in c.items() if k != "200") + sum((d.get("errorDistribution") or {}).values())}))'
}
if [ -n "$oha" ]; then
  for c in 1 16 64; do
    row oha-direct "$c" "$(oha_run "$direct" "$c")"
    row oha-gateway "$c" "$(oha_run "$through" "$c")"
  done
fi
# The cost of the metrics: two fresh gateways, one with METRICS_* set and one without (nothing
# recorded), c=64, alternated over three rounds; the median of each is reported.
start_gateway metrics-on METRICS_USER=bench METRICS_PASSWORD=bench-metrics-secret
on_url="http://127.0.0.1:$port/v1/chat/completions"; on_key=$key
start_gateway metrics-off
off_url="http://127.0.0.1:$port/v1/chat/completions"; off_key=$key
key=$on_key; load "$on_url" 64 --warmup 50 >/dev/null
key=$off_key; load "$off_url" 64 --warmup 50 >/dev/null
for r in 1 2 3; do
  key=$on_key; row metrics-on 64 "$(load "$on_url" 64)"
  key=$off_key; row metrics-off 64 "$(load "$off_url" 64)"
done
logs=$(python3 - "$main_db" <<'PY'
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
print("- gateway: SQLite, billing and consume logs ON, Prometheus metrics ON, MEMORY_CACHE_ENABLED=true, one OpenAI channel on the mock, unlimited token; load client: bench-load (closed loop, keep-alive); each figure the best of the rounds")
print()
print("| c | direct RPS | gateway RPS | ratio | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms | errors |")
print("|---:|---:|---:|---:|---|---|---|---:|")
for c in (1, 16, 64):
    d, g = best("direct", c), best("gateway", c)
    if not d or not g: continue
    print(f"| {c} | {d['rps']} | {g['rps']} | {g['rps']/d['rps']*100:.0f} % | {d['p50_ms']} / {d['p99_ms']} | {g['p50_ms']} / {g['p99_ms']} | {g['p50_ms']-d['p50_ms']:.3f} / {g['p99_ms']-d['p99_ms']:.3f} | {g['errors']} |")
print()
print("| streaming, 20 chunks | direct | gateway | added |")
print("|---|---:|---:|---:|")
for c in (1, 16):
    d, g = best("direct-stream", c), best("gateway-stream", c)
    if not d or not g: continue
    print(f"| c={c} TTFB p50 ms | {d['ttfb_p50_ms']} | {g['ttfb_p50_ms']} | {g['ttfb_p50_ms']-d['ttfb_p50_ms']:.3f} |")
    print(f"| c={c} TTFB p99 ms | {d['ttfb_p99_ms']} | {g['ttfb_p99_ms']} | {g['ttfb_p99_ms']-d['ttfb_p99_ms']:.3f} |")
    print(f"| c={c} chunks/s | {d['frames_per_s']} | {g['frames_per_s']} | |")
s = best("slow-streams", [r["c"] for r in rows if r["kind"] == "slow-streams"][0])
print()
print("| gateway RSS | kB |")
print("|---|---:|")
print(f"| idle | {rss_idle} |")
print(f"| under c=64 load | {rss_load} |")
print(f"| {s['concurrency']} concurrent slow streams ({s['requests']} completed, {s['errors']} errors) | {rss_streams} |")
if any(r["kind"] == "oha-gateway" for r in rows):
    print()
    print("Cross-check with oha (one run each, 10 s):")
    print()
    print("| c | direct RPS | gateway RPS | ratio | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms | errors |")
    print("|---:|---:|---:|---:|---|---|---|---:|")
    for c in (1, 16, 64):
        d, g = best("oha-direct", c), best("oha-gateway", c)
        if not d or not g: continue
        print(f"| {c} | {d['rps']} | {g['rps']} | {g['rps']/d['rps']*100:.0f} % | {d['p50_ms']} / {d['p99_ms']} | {g['p50_ms']} / {g['p99_ms']} | {g['p50_ms']-d['p50_ms']:.3f} / {g['p99_ms']-d['p99_ms']:.3f} | {g['errors']} |")
def median(kind, c):
    rs = sorted((r["r"] for r in rows if r["kind"] == kind and r["c"] == c), key=lambda r: r["rps"])
    return rs[len(rs) // 2] if rs else None
on, off = median("metrics-on", 64), median("metrics-off", 64)
if on and off:
    print()
    print("| c=64, two fresh gateways, median of 3 alternated runs | RPS | p50 / p99 ms |")
    print("|---|---:|---|")
    print(f"| metrics on | {on['rps']} | {on['p50_ms']} / {on['p99_ms']} |")
    print(f"| metrics off (METRICS_* unset) | {off['rps']} | {off['p50_ms']} / {off['p99_ms']} |")
    print(f"| cost of the metrics | {(1 - on['rps']/off['rps'])*100:.1f} % of RPS | |")
print()
print(f"Consume logs written: {logs} (one per successful relayed request).")
PY
