#!/usr/bin/env bash
# The near cache (--near-cache) against the exact path on this machine (docs/NEAR_CACHE.md).
#
#   cargo build --release -p ratelimiter-node -p ratelimiter-bench
#   crates/ratelimiter-bench/scripts/near-bench.sh [DURATION]
#
# Starts its own redis-server (no persistence) and one node on fixed loopback ports, runs:
#   0. the node's own /healthz under wrk (what its HTTP stack allows)
#   1. exact path (no --near-cache): many keys, one hot key, one hot key over its limit
#   2. the same node restarted with --near-cache: the same loads, and 80 % of the traffic on
#      one hot key with a tail of 100,000 keys
# and stops everything it started. One node: leases are floor(1 % of the limit).
set -euo pipefail
DURATION=${1:-5s}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
REDIS_PORT=${REDIS_PORT:-16579}
PORT=${PORT:-18281}
REDIS=redis://127.0.0.1:$REDIS_PORT
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/policies.toml" <<'TOML'
# Admitting (every decision writes) with leases that matter: 100,000 per second, leases of 1,000.
[policies.default]
windows = [{ limit = 100000, window_ms = 1000 }]

# Traffic far over its limit: denials.
[policies.over]
match = "over:*"
windows = [{ limit = 1000, window_ms = 60000 }]
TOML

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --loglevel warning &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

NODE=
start_node() { # extra flags...
  RUST_LOG=warn "$BIN/ratelimiter-node" --listen "127.0.0.1:$PORT" --redis-url "$REDIS" --node-id near-1 \
    --policies "$WORK/policies.toml" "$@" &
  NODE=$!
  PIDS+=($NODE)
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
  sleep 1.2 # the first heartbeat counts the nodes Up (no lease before it)
}
stop_node() { kill "$NODE"; wait "$NODE" 2>/dev/null || true; }
bench() { echo; echo "\$ ratelimiter-bench $*"; "$BIN/ratelimiter-bench" --redis-url "$REDIS" --quiet "$@"; }
loads() {
  bench --target "http://127.0.0.1:$PORT" --concurrency 64 --duration "$DURATION" --keys many:10000
  bench --target "http://127.0.0.1:$PORT" --concurrency 64 --duration "$DURATION" --keys hot:bench:hot
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null # (the node re-seeds its policies)
  sleep 0.5
  bench --target "http://127.0.0.1:$PORT" --concurrency 64 --duration "$DURATION" --keys hot:over:1
}

echo "== machine: $(nproc) cores, $(redis-server --version | cut -d' ' -f3)"
start_node
echo
echo "== 0. the node's /healthz, wrk, 64 connections"
echo "\$ wrk -t2 -c64 -d$DURATION http://127.0.0.1:$PORT/healthz"
wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$PORT/healthz" | grep -E 'Requests/sec|Latency'
echo
echo "== 1. exact path, closed loop, 64 connections"
loads
stop_node
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
echo
echo "== 2. --near-cache, closed loop, 64 connections"
start_node --near-cache
loads
bench --target "http://127.0.0.1:$PORT" --concurrency 64 --duration "$DURATION" --keys mixed:0.8:100000
echo
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^ratelimiter_near_cache'
