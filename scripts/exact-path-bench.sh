#!/usr/bin/env bash
# The exact path against its two references, in one run on this machine (docs/BENCHMARKS.md,
# "Near cache and the exact path"):
#
#   lcargo build --release -p ratelimiter-node -p ratelimiter-bench   # once
#   scripts/exact-path-bench.sh                 # DURATION=10s by default
#   NODE_FLAGS="--near-cache" scripts/exact-path-bench.sh   # extra flags for the node
#
# In sequence, each step alone on the machine:
#   1. redis-benchmark -c 50 (unpipelined) over 10,000 keys of a minimal sliding-window counter
#      script by EVALSHA: TIME, INCR of the current window's counter with PEXPIRE on its first
#      use, GET of the previous window's counter (scripts/minimal-window.lua);
#   2. one node: GET /healthz, then POST /v1/check over 10,000 keys, by wrk (-t1 -c64, both
#      through a Lua request function, so the generator does the same work for both) and by
#      ratelimiter-bench (64 connections; Redis script calls per decision from INFO
#      commandstats);
#   3. the node at a fixed 5,000 decisions/s (open loop, 32 connections): p99;
#   4. the ratios: /v1/check to redis-benchmark and to /healthz.
# Limits are high enough that every decision is admitted (the admitting path writes). Every
# process started here is stopped on exit, error or interrupt.
set -euo pipefail
DURATION=${DURATION:-10s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
REDIS_PORT=${REDIS_PORT:-16711}
NODE_PORT=${NODE_PORT:-18711}
NODE_FLAGS=${NODE_FLAGS:-}
REDIS=redis://127.0.0.1:$REDIS_PORT
NODE=http://127.0.0.1:$NODE_PORT
for tool in redis-server redis-cli redis-benchmark wrk jq curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-server wrk jq curl)" >&2; exit 1; }
done
for bin in ratelimiter-node ratelimiter-bench; do
  [ -x "$BIN/$bin" ] || { echo "missing $BIN/$bin: cargo build --release -p ratelimiter-node -p ratelimiter-bench" >&2; exit 1; }
done
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

secs=${DURATION%s}
cat > "$WORK/policies.toml" <<'TOML'
# Every decision admitted: the run measures the writing path.
[policies.default]
windows = [{ limit = 1000000000, window_ms = 1000 }]
TOML
cat > "$WORK/check.lua" <<'LUA'
-- POST /v1/check over 10,000 keys
math.randomseed(os.time())
local headers = { ["Content-Type"] = "application/json" }
request = function()
  return wrk.format("POST", "/v1/check", headers, '{"key":"bench:k' .. math.random(0, 9999) .. '"}')
end
LUA
cat > "$WORK/healthz.lua" <<'LUA'
-- GET /healthz through the same Lua request function as check.lua
math.randomseed(os.time())
local headers = { ["X-Key"] = "" }
request = function()
  headers["X-Key"] = "bench:k" .. math.random(0, 9999)
  return wrk.format("GET", "/healthz", headers)
end
LUA

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --loglevel warning --logfile "$WORK/redis.log" &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

echo "== machine: $(nproc) cores, redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2), $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== node flags: ${NODE_FLAGS:-(none)}"

# 1. the reference: the minimal sliding-window counter script
SHA=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$(cat "$ROOT/scripts/minimal-window.lua")")
N=$((secs * 100000))
echo
echo "== 1. redis-benchmark, minimal sliding-window script, 50 clients, unpipelined, 10,000 keys"
echo "\$ redis-benchmark -p $REDIS_PORT -c 50 -n $N -r 10000 EVALSHA $SHA 2 'sw:{__rand_int__}' 'sw:{__rand_int__}' 1000"
RB=$(redis-benchmark -p "$REDIS_PORT" -c 50 -n "$N" -r 10000 -q \
  EVALSHA "$SHA" 2 'sw:{__rand_int__}' 'sw:{__rand_int__}' 1000 | tr '\r' '\n' | grep 'requests per second' | tail -n 1)
echo "$RB"
RB_RPS=$(echo "$RB" | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null

# 2. the node
# shellcheck disable=SC2086 # NODE_FLAGS is a list of flags
RUST_LOG=error "$BIN/ratelimiter-node" --listen "127.0.0.1:$NODE_PORT" --redis-url "$REDIS" \
  --node-id exact-bench --policies "$WORK/policies.toml" $NODE_FLAGS &
PIDS+=($!)
until curl -sf "$NODE/readyz" >/dev/null; do sleep 0.05; done

wrk_rps() { # path script
  echo "\$ wrk -t1 -c64 -d$DURATION -s $(basename "$2") $NODE$1" >&2
  wrk -t1 -c64 -d"$DURATION" -s "$2" "$NODE$1" | tee /dev/stderr | awk '/^Requests\/sec/ {print $2}'
}
bench_json() { # ratelimiter-bench flags
  echo "\$ ratelimiter-bench --target $NODE --redis-url $REDIS --json $*" >&2
  "$BIN/ratelimiter-bench" --target "$NODE" --redis-url "$REDIS" --json "$@"
}
summary() { # json
  jq -r '"decisions/s \(.decisions_per_sec | floor)  p50 \(.latency.p50_us) us  p99 \(.latency.p99_us) us  p99.9 \(.latency.p999_us) us  errors \(.errors)  script calls/decision \(.script_calls_per_decision // 0 | . * 1000 | round / 1000)"' <<<"$1"
}

echo
echo "== 2a. wrk, one node"
WRK_HEALTHZ=$(wrk_rps /healthz "$WORK/healthz.lua")
WRK_CHECK=$(wrk_rps /v1/check "$WORK/check.lua")
echo
echo "== 2b. ratelimiter-bench, one node, 64 connections"
B_HEALTHZ=$(bench_json --endpoint healthz --concurrency 64 --duration "$DURATION" --keys many:10000)
summary "$B_HEALTHZ"
B_CHECK=$(bench_json --concurrency 64 --duration "$DURATION" --keys many:10000)
summary "$B_CHECK"
echo
echo "== 3. one node, open loop at 5,000 decisions/s, 32 connections"
B_5K=$(bench_json --rate 5000 --concurrency 32 --duration "$DURATION" --keys many:10000)
summary "$B_5K"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
B_HEALTHZ_RPS=$(jq .decisions_per_sec <<<"$B_HEALTHZ")
B_CHECK_RPS=$(jq .decisions_per_sec <<<"$B_CHECK")
echo
echo "== 4. ratios"
printf '%-58s %10.0f /s\n' "redis-benchmark, minimal script" "$RB_RPS"
printf '%-58s %10.0f /s\n' "wrk GET /healthz" "$WRK_HEALTHZ"
printf '%-58s %10.0f /s\n' "wrk POST /v1/check" "$WRK_CHECK"
printf '%-58s %10.0f /s\n' "ratelimiter-bench GET /healthz" "$B_HEALTHZ_RPS"
printf '%-58s %10.0f /s\n' "ratelimiter-bench POST /v1/check" "$B_CHECK_RPS"
echo "wrk  /v1/check / redis-benchmark     $(ratio "$WRK_CHECK" "$RB_RPS")x   (target >= 0.6)"
echo "wrk  /v1/check / /healthz            $(ratio "$WRK_CHECK" "$WRK_HEALTHZ")x   (target >= 0.5)"
echo "bench /v1/check / redis-benchmark    $(ratio "$B_CHECK_RPS" "$RB_RPS")x"
echo "bench /v1/check / /healthz           $(ratio "$B_CHECK_RPS" "$B_HEALTHZ_RPS")x"
echo "p99 at 5,000/s                       $(jq .latency.p99_us <<<"$B_5K") us   (target <= 2000)"
