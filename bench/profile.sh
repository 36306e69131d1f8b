#!/usr/bin/env bash
# Profiles the release gateway under load: `perf record -e cpu-clock -g` on the gateway process
# while bench-load drives it through the same setup as overhead.sh (SQLite, billing and consume
# logs on, unlimited token). Prints the top of `perf report` (children, then self).
#
#   bench/profile.sh [CONCURRENCY] [SECONDS] [extra bench-load args, e.g. --stream]
#
# Needs perf (Debian's linux-perf) and a kernel that allows it (perf_event_paranoid <= 1, or root).
set -euo pipefail
cd "$(dirname "$0")/.."
c=${1:-16}; secs=${2:-8}; shift $(( $# > 2 ? 2 : $# ))
bin=target/release
cargo build --release -q -p one-hub -p hub-mock -p hub-bench --bin one-hub --bin mock-upstream --bin bench-load
command -v perf >/dev/null || { echo "profile: perf is not installed (apt install linux-perf)" >&2; exit 1; }
. bench/common.sh
start_mock
start_gateway gw METRICS_USER=bench METRICS_PASSWORD=bench-metrics
through="http://127.0.0.1:$port/v1/chat/completions"
"$bin/bench-load" --url "$through" --key "$key" --concurrency "$c" --requests 2000 --seconds 2 "$@" >/dev/null
"$bin/bench-load" --url "$through" --key "$key" --concurrency "$c" --requests 10000000 --seconds "$((secs + 2))" "$@" >"$work/load.json" &
load=$!
sleep 1
perf record -q -e cpu-clock ${PERF_CALLGRAPH:---call-graph dwarf,16384} -F 2000 -p "$gw" -o "$work/perf.data" -- sleep "$secs" >/dev/null 2>&1
wait "$load"
cp "$work/perf.data" "${PERF_DATA_OUT:-/tmp/one-hub-perf.data}"
echo "load: $(cat "$work/load.json")"
echo "== children (inclusive) =="
perf report -i "$work/perf.data" --children --no-demangle --stdio --percent-limit 3 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 | sed 's/_ZN[0-9a-zA-Z_$.]*//; s/17h[0-9a-f]\{16\}E//' | cut -c1-160
echo "== self =="
perf report -i "$work/perf.data" --no-children --stdio --percent-limit 0.7 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -50 | cut -c1-160
