#!/usr/bin/env bash
# A/B of two gateway builds in one run: the same mock, the same load client, alternated rounds.
# Prints added latency and RPS for each build at c=1 and c=64 (SQLite, billing and consume logs
# on, MEMORY_CACHE_ENABLED=true, unlimited token). 127.0.0.1 only; bounded in time.
#   bench/ab.sh OLD_DIR NEW_DIR [rounds]    (each DIR holds a release one-hub binary)
# e.g. git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release -p one-hub)
#      bench/ab.sh /tmp/old/target/release target/release
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-3}
cargo build --release -q -p hub-mock -p hub-bench --bin mock-upstream --bin bench-load
bin=target/release
source bench/common.sh
start_mock
declare -A url keys
for v in old new; do
  gw_bin=${!v}
  start_gateway "$v"
  url[$v]="http://127.0.0.1:$port/v1/chat/completions"
  keys[$v]=$key
done
direct="$mock_url/v1/chat/completions"
run() { "$bin/bench-load" --url "$1" --key "$2" --concurrency "$3" --requests 200000 --seconds 5 --warmup 200; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
echo "| round | c | direct RPS | old RPS | new RPS | direct p50 | old added p50 | new added p50 |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for r in $(seq 1 "$rounds"); do
  for c in 1 64; do
    d=$(run "$direct" k "$c"); o=$(run "${url[old]}" "${keys[old]}" "$c"); n=$(run "${url[new]}" "${keys[new]}" "$c")
    dp=$(echo "$d" | field p50_ms); op=$(echo "$o" | field p50_ms); np=$(echo "$n" | field p50_ms)
    printf '| %s | %s | %.0f | %.0f | %.0f | %.3f | %.3f | %.3f |\n' "$r" "$c" \
      "$(echo "$d" | field rps)" "$(echo "$o" | field rps)" "$(echo "$n" | field rps)" \
      "$dp" "$(python3 -c "print($op-$dp)")" "$(python3 -c "print($np-$dp)")"
  done
done
