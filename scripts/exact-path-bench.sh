#!/usr/bin/env bash
# The exact path against its two references, in one run on this machine (docs/BENCHMARKS.md,
# "Near cache and the exact path"):
#
#   cargo build --release -p ratelimiter-node -p ratelimiter-bench   # once
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
#   4. (printed last) the ratios: /v1/check to redis-benchmark and to /healthz;
#   5. seed 002's traffic (80 % of requests on the top 1,000 keys, 20 % on a tail of 100,000)
#      and a hot key, each checked against the exact oracle (ratelimiter-bench --oracle-*);
#   6. the same with the near cache (NEAR_FLAGS, default --near-cache), when the node has it.
# Steps 1-4 use limits high enough that every decision is admitted (the admitting path writes).
# Every process started here is stopped on exit, error or interrupt.
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
# The node's built-in default (100 per second) for seed 002's keys and the hot key.
[policies.default]
windows = [{ limit = 100, window_ms = 1000 }]

# The exact path's throughput runs: every decision admitted (the writing path).
[policies.open]
match = "bench:k*"
windows = [{ limit = 1000000000, window_ms = 1000 }]

# Seed 002's traffic, mostly over the limit on its top keys.
[policies.tight]
match = "bench:s2t:*"
windows = [{ limit = 10, window_ms = 1000 }]

# A hot key with a limit large enough for leases (>= 500 x nodes per window).
[policies.big]
match = "bench:big"
windows = [{ limit = 100000, window_ms = 1000 }]
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
REDIS_PID=$!
PIDS+=("$REDIS_PID")
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
NODE_PID=
start_node() { # extra flags
  # shellcheck disable=SC2068 # the flags are a list
  RUST_LOG=error "$BIN/ratelimiter-node" --listen "127.0.0.1:$NODE_PORT" --redis-url "$REDIS" \
    --node-id exact-bench --policies "$WORK/policies.toml" $@ &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  until curl -sf "$NODE/readyz" >/dev/null; do sleep 0.05; done
}
stop_node() {
  kill "$NODE_PID" 2>/dev/null || true
  wait "$NODE_PID" 2>/dev/null || true
}
# shellcheck disable=SC2086 # NODE_FLAGS is a list of flags
start_node $NODE_FLAGS

wrk_rps() { # path script
  echo "\$ wrk -t1 -c64 -d$DURATION -s $(basename "$2") $NODE$1" >&2
  wrk -t1 -c64 -d"$DURATION" -s "$2" "$NODE$1" >"$WORK/wrk.out"
  cat "$WORK/wrk.out" >&2
  awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out"
}
bench_json() { # ratelimiter-bench flags
  echo "\$ ratelimiter-bench --target $NODE --redis-url $REDIS --json $*" >&2
  "$BIN/ratelimiter-bench" --target "$NODE" --redis-url "$REDIS" --json "$@"
}
summary() { # json
  jq -r '"decisions/s \(.decisions_per_sec | floor)  p50 \(.latency.p50_us) us  p99 \(.latency.p99_us) us  p99.9 \(.latency.p999_us) us  errors \(.errors)  script calls/decision \(.script_calls_per_decision // 0 | . * 1000 | round / 1000)"' <<<"$1"
}
# One table row: name, the /healthz rate of the same node, the run's JSON (with --oracle-*).
row() {
  jq -r --arg name "$1" --argjson healthz "$2" '
    "| \($name) | \(.decisions_per_sec | floor) | \(.decisions_per_sec / $healthz * 100 | round / 100)x | \(.latency.p99_us / 1000 * 100 | round / 100) ms | \(.script_calls_per_decision // 0 | . * 1000 | round / 1000) | \(.oracle.admitted) / \(.oracle.oracle_admitted) | \(.oracle.drift * 10000 | round / 100) % | \(.oracle.over_admission) | \(.oracle.degraded) | \(.errors) |"' <<<"$3"
}
ROWS=()
# The decision rows of one node: seed 002 and hot keys, each against its exact oracle.
decision_rows() { # label healthz_rps
  local json
  for spec in "seed002 100 seed 002, built-in default policy (100/s)" \
    "seed002:bench:s2t 10 seed 002, 10/s (top keys mostly over)" \
    "hot 100 hot key, built-in default policy (100/s)" \
    "hot:bench:big 100000 hot key, 100,000/s (leases)"; do
    read -r keys limit name <<<"$spec"
    sleep 2.1 # two 1 s windows: every counter of the previous run is out of the estimate
    json=$(bench_json --concurrency 64 --duration "$DURATION" --keys "$keys" \
      --oracle-limit "$limit" --oracle-window 1s)
    summary "$json" >&2
    ROWS+=("$(row "$1: $name" "$2" "$json")")
  done
}

echo
echo "== 2a. wrk, one node"
WRK_HEALTHZ=$(wrk_rps /healthz "$WORK/healthz.lua")
WRK_CHECK=$(wrk_rps /v1/check "$WORK/check.lua")
echo
echo "== 2b. ratelimiter-bench, one node, 64 connections"
B_HEALTHZ=$(bench_json --endpoint healthz --concurrency 64 --duration "$DURATION" --keys many:10000)
summary "$B_HEALTHZ"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system CPU, in clock ticks
R0=$(ticks "$REDIS_PID"); N0=$(ticks "$NODE_PID")
B_CHECK=$(bench_json --concurrency 64 --duration "$DURATION" --keys many:10000)
R1=$(ticks "$REDIS_PID"); N1=$(ticks "$NODE_PID")
summary "$B_CHECK"
D=$(jq '.allowed + .denied' <<<"$B_CHECK")
awk -v r=$((R1 - R0)) -v n=$((N1 - N0)) -v d="$D" -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "CPU per decision: node %.1f us, redis %.1f us\n", n / hz * 1e6 / d, r / hz * 1e6 / d }'
N0=$(ticks "$NODE_PID")
B_HEALTHZ2=$(bench_json --endpoint healthz --concurrency 64 --duration "$DURATION" --keys many:10000)
N1=$(ticks "$NODE_PID")
awk -v n=$((N1 - N0)) -v d="$(jq '.allowed' <<<"$B_HEALTHZ2")" -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "CPU per /healthz request: node %.1f us\n", n / hz * 1e6 / d }' 
echo
echo "== 3. one node, open loop at 5,000 decisions/s, 32 connections"
B_5K=$(bench_json --rate 5000 --concurrency 32 --duration "$DURATION" --keys many:10000)
summary "$B_5K"

echo
echo "== 5. exact path: seed 002 and hot keys against the exact oracle, 64 connections"
decision_rows "exact" "$(jq .decisions_per_sec <<<"$B_HEALTHZ")"

NEAR_FLAGS=${NEAR_FLAGS:---near-cache}
echo
if "$BIN/ratelimiter-node" --help | grep -q -- "--near-cache"; then
  echo "== 6. near cache ($NEAR_FLAGS $NODE_FLAGS): /healthz, then the same decision rows"
  stop_node
  # shellcheck disable=SC2086 # flag lists
  start_node $NEAR_FLAGS $NODE_FLAGS
  N_HEALTHZ=$(bench_json --endpoint healthz --concurrency 64 --duration "$DURATION" --keys many:10000)
  summary "$N_HEALTHZ"
  decision_rows "near cache" "$(jq .decisions_per_sec <<<"$N_HEALTHZ")"
  curl -s "$NODE/metrics" | grep -E '^ratelimiter_near_' || true
else
  echo "== 6. near cache: pending (this node has no --near-cache)"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
B_HEALTHZ_RPS=$(jq .decisions_per_sec <<<"$B_HEALTHZ")
B_CHECK_RPS=$(jq .decisions_per_sec <<<"$B_CHECK")
echo
echo "== summary: the exact path against its references (steps 1-3)"
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
echo
echo "| run | decisions/s | / its /healthz | p99 | script calls / decision | admitted / exact oracle | drift | over-admission | by the failure mode | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
