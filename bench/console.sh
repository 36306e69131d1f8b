#!/usr/bin/env bash
# What the web console costs the relay. The console is the router's fallback, so a relay request
# never reaches its code; this measures that instead of assuming it.
#
#   bench/console.sh [REQUESTS]      (default 3000 relayed requests per callgrind row)
#
# Two release builds of the same source: `console` (the default) and `api-only`
# (`--no-default-features`: nothing embedded, every console path answers One Hub's 404).
#   1. instructions per relayed request (callgrind, c=4 after 300 of warm-up; SQLite, billing and
#      consume logs on), each build
#   2. resident memory after start and after the load, each build
#   3. the relay's RPS and p50 at c=1 and c=16, alternated between the builds (3 rounds)
#   4. the relay on the console build while a second client loads the console as browsers with
#      an empty cache do (the shell and every asset in turn, c=4, gzip), and that load's own RPS
# Needs valgrind (callgrind_control). 127.0.0.1 only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000}
bin=target/release
command -v callgrind_control >/dev/null || { echo "console bench: valgrind is not installed" >&2; exit 1; }
. bench/common.sh
mkdir -p "$work/api-only" "$work/console"
cargo build --release -q -p one-hub --no-default-features --bin one-hub
cp "$bin/one-hub" "$work/api-only/"
cargo build --release -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load
cp "$bin/one-hub" "$work/console/"
start_mock

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
json() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(r[sys.argv[1]])' "$1"; }
load() { # URL KEY C REQUESTS SECONDS [--get]
  "$bin/bench-load" --url "$1" --key "$2" --concurrency "$3" --requests "$4" --seconds "$5" "${@:6}"
}

echo "== 1, 2: instructions per relayed request (callgrind, c=4, $n requests) and memory =="
for v in api-only console; do
  gw_bin="$work/$v" start_gateway_named "cg-$v" one-hub valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/$v.cg"
  url="http://127.0.0.1:$port/v1/chat/completions"
  load "$url" "$key" 4 300 120 >/dev/null
  callgrind_control -i on "$gw" >/dev/null
  load "$url" "$key" 4 "$n" 600 >"$work/cg-$v.json"
  callgrind_control -i off "$gw" >/dev/null
  callgrind_control -d "$gw" >/dev/null
  sleep 2
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  total=$(cat "$work/$v.cg"* | sed -n 's/^totals: //p' | awk '{s += $1} END {printf "%d", s}')
  printf '%-9s %8d instructions/request  (%s ok, %s errors)\n' "$v" "$((total / n))" \
    "$(json requests <"$work/cg-$v.json")" "$(json errors <"$work/cg-$v.json")"
  # Memory without valgrind: after start, and after 20000 relayed requests at c=16.
  gw_bin="$work/$v" start_gateway "mem-$v"
  sleep 1
  idle=$(rss "$gw")
  load "http://127.0.0.1:$port/v1/chat/completions" "$key" 16 20000 60 >/dev/null
  printf '%-9s RSS %6d KiB after start, %6d KiB after 20000 requests\n' "$v" "$idle" "$(rss "$gw")"
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
done

echo "== 3: the relay, the two builds alternated (5 s rounds) =="
declare -A urls keys
for v in api-only console; do
  # No per-IP limit on the console paths: section 4 loads them from one IP as fast as it can.
  gw_bin="$work/$v" start_gateway "ab-$v" GLOBAL_WEB_RATE_LIMIT=0
  urls[$v]="http://127.0.0.1:$port/v1/chat/completions"
  keys[$v]=$key
  console_port=$port
done
echo "| round | c | api-only RPS | console RPS | api-only p50 ms | console p50 ms |"
echo "|---:|---:|---:|---:|---:|---:|"
for r in 1 2 3; do
  for c in 1 16; do
    a=$(load "${urls[api-only]}" "${keys[api-only]}" "$c" 200000 5 --warmup 200)
    b=$(load "${urls[console]}" "${keys[console]}" "$c" 200000 5 --warmup 200)
    printf '| %s | %s | %.0f | %.0f | %.3f | %.3f |\n' "$r" "$c" "$(json rps <<<"$a")" "$(json rps <<<"$b")" \
      "$(json p50_ms <<<"$a")" "$(json p50_ms <<<"$b")"
  done
done

echo "== 4: the relay (c=1) alone and while browsers load the console (c=4) =="
base="http://127.0.0.1:$console_port"
assets=$(curl -sf "$base/" | grep -o '/assets/[^"]*' | sort -u)
# The modules the shell's script imports (one level is the whole graph here: app.js imports all).
for a in $assets; do
  case $a in *.js) assets="$assets $(curl -sf --compressed "$base$a" | grep -o "\./[a-z0-9.-]*\.js" | sed 's|^\./|/assets/|')" ;; esac
done
console_urls=$(printf '%s\n' "/" $assets | sort -u | sed "s|^|$base|" | paste -sd,)
echo "console load: $(echo "$console_urls" | tr ',' '\n' | wc -l) URLs (the shell and every asset)"
alone=$(load "${urls[console]}" "${keys[console]}" 1 200000 10 --warmup 200)
load "$console_urls" x 4 100000000 12 --get >"$work/browsers.json" &
started+=($!)
browsers=$!
sleep 1
with=$(load "${urls[console]}" "${keys[console]}" 1 200000 10 --warmup 200)
wait "$browsers" || true
printf 'relay alone:                 %7.0f RPS  p50 %.3f ms  p99 %.3f ms\n' "$(json rps <<<"$alone")" "$(json p50_ms <<<"$alone")" "$(json p99_ms <<<"$alone")"
printf 'relay with the console load: %7.0f RPS  p50 %.3f ms  p99 %.3f ms\n' "$(json rps <<<"$with")" "$(json p50_ms <<<"$with")" "$(json p99_ms <<<"$with")"
printf 'the console load itself:     %7.0f GET/s p50 %.3f ms  (%s errors, e.g. 429s)\n' "$(json rps <"$work/browsers.json")" "$(json p50_ms <"$work/browsers.json")" "$(json errors <"$work/browsers.json")"
