#!/usr/bin/env bash
# Benchmarks ratelimiter-node on this machine; the figures go to docs/BENCHMARKS.md.
#
#   cargo build --release -p ratelimiter-node -p ratelimiter-bench
#   crates/ratelimiter-bench/scripts/node-bench.sh [DURATION]
#
# Starts its own redis-server (no persistence) and nodes on fixed loopback ports, runs:
#   1. the ceiling: redis-benchmark of the same check script (EVALSHA, 50 clients, unpipelined)
#   2. one node, closed loop, 64 connections: many keys (max throughput), one hot key, and one
#      hot key under a two-window policy
#   3. one node, open loop at 5,000 decisions/s (latency at a fixed rate)
#   4. three nodes on one Redis, closed loop, many keys
#   5. Redis killed: one node deciding by its failure mode, open loop at 1,000 decisions/s
# and stops everything it started.
set -euo pipefail
DURATION=${1:-10s}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
REDIS_PORT=${REDIS_PORT:-16479}
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
# Limits high enough that the run measures the admitting path (every decision writes).
[policies.default]
windows = [{ limit = 1000000000, window_ms = 1000 }]

[policies.two]
match = "bench:two:*"
windows = [{ limit = 1000000000, window_ms = 1000 }, { limit = 1000000000, window_ms = 3600000 }]
TOML

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --loglevel warning &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

start_node() { # id port
  RUST_LOG=warn "$BIN/ratelimiter-node" --listen "127.0.0.1:$2" --redis-url "$REDIS" --node-id "$1" \
    --policies "$WORK/policies.toml" &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$2/readyz" >/dev/null; do sleep 0.05; done
}
bench() { echo; echo "\$ ratelimiter-bench $*"; "$BIN/ratelimiter-bench" --redis-url "$REDIS" --quiet "$@"; }

echo "== machine: $(nproc) cores, $(redis-server --version | cut -d' ' -f3)"
SHA=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$(cat "$ROOT/crates/ratelimiter-node/src/lua/check.lua")")
echo
echo "== 1. ceiling: redis-benchmark, the check script, 50 clients, unpipelined, 10,000 keys"
echo "\$ redis-benchmark -p $REDIS_PORT -c 50 -n 1000000 -r 10000 EVALSHA $SHA 1 'ratelimit:c:{bench:k__rand_int__}:default:1000' 1 1000000000 1000"
redis-benchmark -p "$REDIS_PORT" -c 50 -n 1000000 -r 10000 -q \
  EVALSHA "$SHA" 1 'ratelimit:c:{bench:k__rand_int__}:default:1000' 1 1000000000 1000 | tr '\r' '\n' | tail -n 2
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null

start_node bench-1 18181
echo
echo "== 2. one node, closed loop, 64 connections"
bench --target http://127.0.0.1:18181 --concurrency 64 --duration "$DURATION" --keys many:10000
bench --target http://127.0.0.1:18181 --concurrency 64 --duration "$DURATION" --keys hot
bench --target http://127.0.0.1:18181 --concurrency 64 --duration "$DURATION" --keys hot:bench:two:1
echo
echo "== 3. one node, open loop at 5,000 decisions/s"
bench --target http://127.0.0.1:18181 --rate 5000 --concurrency 32 --duration "$DURATION" --keys many:10000
echo
echo "== 4. three nodes, closed loop, 96 connections"
start_node bench-2 18182
start_node bench-3 18183
bench --target http://127.0.0.1:18181 --target http://127.0.0.1:18182 --target http://127.0.0.1:18183 \
  --concurrency 96 --duration "$DURATION" --keys many:10000
echo
echo "== 5. Redis killed: one node (failure mode local), open loop at 1,000 decisions/s, 16 connections"
redis-cli -p "$REDIS_PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
sleep 0.5
echo "\$ ratelimiter-bench --target http://127.0.0.1:18181 --rate 1000 --concurrency 16 --duration $DURATION --keys many:1000"
"$BIN/ratelimiter-bench" --quiet --target http://127.0.0.1:18181 --rate 1000 --concurrency 16 --duration "$DURATION" --keys many:1000
curl -s http://127.0.0.1:18181/metrics | grep -E '^ratelimiter_redis_(errors|skipped)_total'
