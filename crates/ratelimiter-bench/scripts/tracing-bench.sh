#!/usr/bin/env bash
# The cost of OpenTelemetry tracing on the decision path; the figures go to docs/BENCHMARKS.md
# ("Tracing overhead").
#
#   cargo build --release -p ratelimiter-node -p ratelimiter-bench
#   cargo build --release -p test-support --example otlp-sink
#   crates/ratelimiter-bench/scripts/tracing-bench.sh [DURATION] [ROUNDS]
#
# Starts its own redis-server and an OTLP/gRPC sink (the tests' receiver as a process, on the
# same cores), then, ROUNDS times in turn, one node with tracing off, at the default ratio
# (0.01) and at 1.0, each measured by a closed loop (64 connections: decisions/s, p99) and an
# open loop at 5,000 decisions/s (p99). Stops everything it started.
set -euo pipefail
DURATION=${1:-10s}
ROUNDS=${2:-2}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
REDIS_PORT=${REDIS_PORT:-16489}
NODE_PORT=${NODE_PORT:-18191}
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
# Limits high enough that every decision is admitted (the admitting path writes).
[policies.default]
windows = [{ limit = 1000000000, window_ms = 1000 }]
TOML

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --loglevel warning &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

"$BIN/examples/otlp-sink" grpc > "$WORK/sink.out" &
PIDS+=($!)
until [ -s "$WORK/sink.out" ]; do sleep 0.05; done
SINK=$(head -n 1 "$WORK/sink.out")

run_mode() { # label, then the node's tracing flags
  local label=$1; shift
  RUST_LOG=warn "$BIN/ratelimiter-node" --listen "127.0.0.1:$NODE_PORT" --redis-url "$REDIS" \
    --node-id bench --policies "$WORK/policies.toml" "$@" &
  local pid=$!
  until curl -sf "http://127.0.0.1:$NODE_PORT/readyz" >/dev/null; do sleep 0.05; done
  echo
  echo "== $label: ratelimiter-node $*"
  echo "\$ ratelimiter-bench --target http://127.0.0.1:$NODE_PORT --concurrency 64 --duration $DURATION --keys many:10000"
  "$BIN/ratelimiter-bench" --quiet --target "http://127.0.0.1:$NODE_PORT" --concurrency 64 \
    --duration "$DURATION" --keys many:10000
  echo "\$ ratelimiter-bench --target http://127.0.0.1:$NODE_PORT --rate 5000 --concurrency 32 --duration $DURATION --keys many:10000"
  "$BIN/ratelimiter-bench" --quiet --target "http://127.0.0.1:$NODE_PORT" --rate 5000 \
    --concurrency 32 --duration "$DURATION" --keys many:10000
  kill -TERM "$pid"
  wait "$pid" || true
  echo "sink: $(tail -n 1 "$WORK/sink.out")"
}

echo "== machine: $(nproc) cores, $(redis-server --version | cut -d' ' -f3), sink $SINK"
for round in $(seq 1 "$ROUNDS"); do
  echo
  echo "==== round $round of $ROUNDS"
  run_mode "tracing off"
  run_mode "default ratio" --otlp-endpoint "$SINK"
  run_mode "ratio 1.0" --otlp-endpoint "$SINK" --trace-sample-ratio 1.0
done
