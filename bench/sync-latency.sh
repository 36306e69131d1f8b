#!/usr/bin/env bash
# Config sync latency: how fast a change made on the master (or by any database writer) becomes
# routable on a slave, with polling only, PostgreSQL LISTEN/NOTIFY and Redis push; steady traffic
# on the slave during the changes; snapshot rebuild time with 10,000 channels.
# Needs PostgreSQL, MariaDB and Redis on 127.0.0.1 (see bench/README.md). Bounded in time
# (bench-sync gives up after 20 minutes). Extra arguments go to bench-sync (e.g. --changes 10).
# Usage: bench/sync-latency.sh [bench-sync arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

nice -n 10 cargo build --release -q -p one-hub -p hub-bench --bin one-hub --bin bench-sync

# bench-sync runs in its own process group so the one-hub nodes it spawned go with it, even if
# it is killed before it can stop them itself.
set -m
./target/release/bench-sync --one-hub target/release/one-hub "$@" &
bench=$!
cleanup() { kill -TERM -- "-$bench" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
rc=0
wait "$bench" || rc=$?
exit "$rc"
