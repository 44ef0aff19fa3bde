#!/usr/bin/env bash
# GCRA against the sliding window, in one run on this machine; the figures go to
# docs/BENCHMARKS.md ("GCRA vs sliding window") and docs/ALGORITHMS.md.
#
#   cargo build --release -p ratelimiter-node -p ratelimiter-bench
#   crates/ratelimiter-bench/scripts/gcra-bench.sh [DURATION]
#   CHURN=1 crates/ratelimiter-bench/scripts/gcra-bench.sh [DURATION]
#
# Starts its own redis-server (no persistence) and one node on fixed loopback ports, and for
# each algorithm (sliding_window, then gcra; limits high enough that every decision is
# admitted, the writing path):
#   1. the ceiling: redis-benchmark of the script itself (EVALSHA, 50 clients, unpipelined,
#      10,000 keys), with Redis time per call from INFO commandstats (usec_per_call of evalsha)
#   2. one node, closed loop, 64 connections, 10,000 keys: decisions/s, latency, and again
#      Redis time per call
#   3. memory per (user key, policy) (MEMORY USAGE of each key) for a one-window and a
#      two-window policy
# and stops everything it started.
set -euo pipefail
DURATION=${1:-10s}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
REDIS_PORT=${REDIS_PORT:-16489}
NODE_PORT=${NODE_PORT:-18191}
REDIS=redis://127.0.0.1:$REDIS_PORT
# CHURN=1: 10^9 per second instead of per 7 days, so every GCRA bucket expires 1 ms after its
# request and nearly every decision creates a key (a sliding-window counter still lives 2 s).
if [ "${CHURN:-0}" = 1 ]; then WINDOW_MS=1000; else WINDOW_MS=604800000; fi
WORK=$(mktemp -d)
PIDS=()
NODE=
cleanup() {
  for pid in "${PIDS[@]}" $NODE; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cli() { redis-cli -p "$REDIS_PORT" "$@"; }

policies() { # algorithm
  cat > "$WORK/policies-$1.toml" <<TOML
# Limits high enough that the run measures the admitting path (every decision writes), over 7
# days so that both algorithms' keys outlive the run: a GCRA bucket expires once it is full
# again, which at 10^9 per second takes 1 µs, and the run would then measure creating and
# expiring a key per decision (CHURN=1 measures exactly that).
[policies.default]
algorithm = "$1"
windows = [{ limit = 1000000000, window_ms = $WINDOW_MS }]

# For MEMORY USAGE: limits low enough that a GCRA bucket outlives the measurement (a bucket
# that is full again expires, and at 10^9 per second that takes 1 ms).
[policies.mem]
match = "bench:mem:*"
algorithm = "$1"
windows = [{ limit = 100, window_ms = 3600000 }]

[policies.memtwo]
match = "bench:two:mem:*"
algorithm = "$1"
windows = [{ limit = 100, window_ms = 1000 }, { limit = 100, window_ms = 3600000 }]
TOML
}
evalsha_usec() { cli INFO commandstats | tr -d '\r' | grep '^cmdstat_evalsha:' | sed 's/.*usec_per_call=\([0-9.]*\).*/\1/'; }

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --loglevel warning &
PIDS+=($!)
until cli ping >/dev/null 2>&1; do sleep 0.05; done
echo "== machine: $(nproc) cores, $(redis-server --version | cut -d' ' -f3); load average: $(cut -d' ' -f1-3 /proc/loadavg); window_ms $WINDOW_MS"

SW_SHA=$(cli SCRIPT LOAD "$(cat "$ROOT/crates/ratelimiter-node/src/lua/check.lua")")
GC_SHA=$(cli SCRIPT LOAD "$(cat "$ROOT/crates/ratelimiter-node/src/lua/gcra.lua")")
# The same arguments the node sends: sliding window (limit, window_ms); gcra (field, T µs, tau µs).
# T = ceil(WINDOW_MS × 1000 / 10^9) µs, tau = 10^9 × T.
T_US=$(( (WINDOW_MS * 1000 + 999999999) / 1000000000 ))
SW_ARGS=(EVALSHA "$SW_SHA" 1 "ratelimit:c:{bench:k__rand_int__}:default:$WINDOW_MS" 1 1000000000 "$WINDOW_MS")
GC_ARGS=(EVALSHA "$GC_SHA" 1 'ratelimit:c:{bench:k__rand_int__}:default:gcra' 1 "$WINDOW_MS" "$T_US" "$(( T_US * 1000000000 ))")

# ALGOS="gcra sliding_window" runs them in the other order (to see how much order matters).
for algo in ${ALGOS:-sliding_window gcra}; do
  policies "$algo"
  if [ "$algo" = gcra ]; then ARGS=("${GC_ARGS[@]}"); else ARGS=("${SW_ARGS[@]}"); fi
  echo
  echo "== $algo: 1. ceiling, redis-benchmark of the script, 50 clients, unpipelined, 10,000 keys"
  cli FLUSHALL >/dev/null; cli CONFIG RESETSTAT >/dev/null
  echo "\$ redis-benchmark -p $REDIS_PORT -c 50 -n 500000 -r 10000 ${ARGS[*]}"
  redis-benchmark -p "$REDIS_PORT" -c 50 -n 500000 -r 10000 -q "${ARGS[@]}" | tr '\r' '\n' | tail -n 2
  echo "redis usec_per_call evalsha: $(evalsha_usec)"

  echo
  echo "== $algo: 2. one node, closed loop, 64 connections, 10,000 keys"
  cli FLUSHALL >/dev/null
  RUST_LOG=warn "$BIN/ratelimiter-node" --listen "127.0.0.1:$NODE_PORT" --redis-url "$REDIS" \
    --node-id "bench-$algo" --policies "$WORK/policies-$algo.toml" &
  NODE=$!
  until curl -sf "http://127.0.0.1:$NODE_PORT/readyz" >/dev/null; do sleep 0.05; done
  cli CONFIG RESETSTAT >/dev/null
  echo "\$ ratelimiter-bench --redis-url $REDIS --target http://127.0.0.1:$NODE_PORT --concurrency 64 --duration $DURATION --keys many:10000"
  "$BIN/ratelimiter-bench" --redis-url "$REDIS" --quiet --target "http://127.0.0.1:$NODE_PORT" \
    --concurrency 64 --duration "$DURATION" --keys many:10000
  echo "redis usec_per_call evalsha: $(evalsha_usec)"

  echo
  echo "== $algo: 3. memory per key (MEMORY USAGE)"
  for key in bench:mem:1 bench:two:mem:1; do
    curl -sf -X POST "http://127.0.0.1:$NODE_PORT/v1/check" -H 'content-type: application/json' \
      -d "{\"key\":\"$key\"}" >/dev/null
  done
  for name in $(cli --scan --pattern 'ratelimit:c:{bench:*mem:1}*'); do
    bytes=$(cli MEMORY USAGE "$name")
    echo "$name: $bytes bytes"
  done
  kill "$NODE"; wait "$NODE" 2>/dev/null || true; NODE=
done
