#!/usr/bin/env bash
# Benchmarks ratelimiter-node on one Redis vs on a 3-primary Redis Cluster (3 + 3 replicas), on
# this machine; the figures go to docs/BENCHMARKS.md ("On a Redis Cluster") and docs/SCALING.md.
#
#   cargo build --release -p ratelimiter-node -p ratelimiter-bench
#   crates/ratelimiter-bench/scripts/cluster-bench.sh [DURATION]
#
# Starts its own redis-server processes (no persistence) and nodes on fixed loopback ports:
#   1. one node / three nodes on one Redis, closed loop, many keys
#   2. one node / three nodes on the cluster (--redis-mode cluster), the same load, with EVALSHA
#      calls per primary (INFO commandstats) and CPU per process (/proc/PID/stat)
#   3. a primary SIGKILLed under load (three nodes): time until a key of its slots is decided by
#      Redis again (exact limiting resumed), and the counter increments lost (admitted by the
#      nodes through Redis, minus the counter on the promoted replica)
# and stops everything it started.
set -euo pipefail
DURATION=${1:-10s}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
SINGLE_PORT=${SINGLE_PORT:-16479}
BASE=${CLUSTER_BASE_PORT:-17000}
WORK=$(mktemp -d)
PIDS=()
declare -A PID_OF
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/policies.toml" <<'TOML'
[policies.default]
windows = [{ limit = 1000000000, window_ms = 1000 }]

[policies.lost]
match = "lost:*"
windows = [{ limit = 1000000000, window_ms = 3600000 }]
TOML

redis() { # port [extra...]
  local port=$1; shift
  mkdir -p "$WORK/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/$port" \
    --loglevel warning "$@" &
  PIDS+=($!); PID_OF[$port]=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
node() { # id port url mode
  RUST_LOG=warn "$BIN/ratelimiter-node" --listen "127.0.0.1:$2" --redis-url "$3" --redis-mode "$4" \
    --node-id "$1" --policies "$WORK/policies.toml" --redis-timeout-ms 200 &
  PIDS+=($!); PID_OF[node$2]=$!
  until curl -sf "http://127.0.0.1:$2/readyz" >/dev/null; do sleep 0.05; done
}
evalsha_calls() { redis-cli -p "$1" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0; }
bench() { # label procs... -- bench args
  local label=$1; shift
  local procs=(); while [[ $1 != -- ]]; do procs+=("$1"); shift; done; shift
  local before=() p
  for p in "${procs[@]}"; do before+=("$(cpu_ticks "${PID_OF[$p]}")"); done
  local t0; t0=$(date +%s.%N)
  echo "\$ ratelimiter-bench $*"
  "$BIN/ratelimiter-bench" --quiet --json "$@" > "$WORK/out.json"
  local t1; t1=$(date +%s.%N)
  jq -r --arg l "$label" '"\($l): \(.decisions_per_sec | floor) decisions/s, p50 \(.latency.p50_us) us, p99 \(.latency.p99_us) us, errors \(.errors)"' "$WORK/out.json"
  local i=0 line="  CPU (% of one core):"
  for p in "${procs[@]}"; do
    local after; after=$(cpu_ticks "${PID_OF[$p]}")
    line+=" $p $(echo "(${after} - ${before[$i]}) * 100 / $(getconf CLK_TCK) / ($t1 - $t0)" | bc -l | xargs printf '%.0f')"
    i=$((i + 1))
  done
  echo "$line"
}

echo "== machine: $(nproc) cores, $(redis-server --version | cut -d' ' -f3)"
echo
echo "== 1. one Redis"
redis "$SINGLE_PORT"
node s1 18181 "redis://127.0.0.1:$SINGLE_PORT" single
bench "one node, one Redis" "$SINGLE_PORT" node18181 -- --target http://127.0.0.1:18181 --concurrency 64 --duration "$DURATION" --keys many:10000
node s2 18182 "redis://127.0.0.1:$SINGLE_PORT" single
node s3 18183 "redis://127.0.0.1:$SINGLE_PORT" single
bench "three nodes, one Redis" "$SINGLE_PORT" node18181 node18182 node18183 -- --target http://127.0.0.1:18181 \
  --target http://127.0.0.1:18182 --target http://127.0.0.1:18183 --concurrency 96 --duration "$DURATION" --keys many:10000
for p in 18181 18182 18183 "$SINGLE_PORT"; do kill -9 "${PID_OF[node$p]:-${PID_OF[$p]}}" 2>/dev/null || true; done

echo
echo "== 2. a Redis Cluster: 3 primaries + 3 replicas on $BASE-$((BASE + 5))"
PORTS=()
for i in 0 1 2 3 4 5; do
  p=$((BASE + i)); PORTS+=("$p")
  redis "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --cluster-replica-validity-factor 0 --cluster-require-full-coverage no
done
redis-cli --cluster create $(for p in "${PORTS[@]}"; do echo "127.0.0.1:$p"; done) --cluster-replicas 1 --cluster-yes >/dev/null
until [[ $(for p in "${PORTS[@]}"; do redis-cli -p "$p" CLUSTER INFO | grep -c 'cluster_state:ok'; done | paste -sd+ | bc) == 6 ]]; do sleep 0.2; done
SEEDS=$(for p in "${PORTS[@]}"; do printf 'redis://127.0.0.1:%s,' "$p"; done); SEEDS=${SEEDS%,}
PRIMARIES=($(redis-cli -p "$BASE" CLUSTER NODES | awk '$3 ~ /master/ {split($2, a, "[:@]"); print a[2]}' | sort))
echo "primaries: ${PRIMARIES[*]}"
node c1 18191 "$SEEDS" cluster
sleep 1 # the slot map (sampled every 250 ms) before the load
calls_before=(); for p in "${PRIMARIES[@]}"; do calls_before+=("$(evalsha_calls "$p")"); done
bench "one node, cluster" "${PRIMARIES[@]}" node18191 -- --target http://127.0.0.1:18191 --concurrency 64 --duration "$DURATION" --keys many:10000
line="  EVALSHA per primary:"; i=0
for p in "${PRIMARIES[@]}"; do line+=" $p $(( $(evalsha_calls "$p") - ${calls_before[$i]} ))"; i=$((i + 1)); done; echo "$line"
node c2 18192 "$SEEDS" cluster
node c3 18193 "$SEEDS" cluster
sleep 1
bench "three nodes, cluster" "${PRIMARIES[@]}" node18191 node18192 node18193 -- --target http://127.0.0.1:18191 \
  --target http://127.0.0.1:18192 --target http://127.0.0.1:18193 --concurrency 96 --duration "$DURATION" --keys many:10000

echo
echo "== 3. the primary of a hot key SIGKILLed under load (three nodes on the cluster)"
HOT=lost:hot
SLOT=$(redis-cli -p "$BASE" CLUSTER KEYSLOT "{$HOT}")
owner_of_slot() { # the port of the live primary serving $SLOT, from CLUSTER NODES of $1
  redis-cli -p "$1" CLUSTER NODES | awk -v s="$SLOT" '$3 ~ /master/ && $3 !~ /fail/ {
    for (i = 9; i <= NF; i++) { n = split($i, r, "-"); if (n == 1) r[2] = r[1];
      if (s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) { split($2, a, "[:@]"); print a[2] } } }'
}
VICTIM=$(owner_of_slot "$BASE")
echo "hot key $HOT (slot $SLOT) lives on primary $VICTIM"
LIVE=$(for p in "${PORTS[@]}"; do [[ $p != "$VICTIM" ]] && echo "$p"; done | head -1)
# Decisions admitted through Redis (not by the failure mode), summed over the nodes.
admitted_total() {
  for p in 18191 18192 18193; do
    curl -s "http://127.0.0.1:$p/metrics" | sed -n 's/^ratelimiter_decisions_total{.*result="allowed"} \([0-9]*\)$/\1/p'
  done | paste -sd+ | bc
}
check_degraded() {
  curl -s -X POST -H 'content-type: application/json' -d "{\"key\":\"$HOT\"}" http://127.0.0.1:18191/v1/check | jq -r .degraded
}
base_admitted=$(admitted_total)
"$BIN/ratelimiter-bench" --quiet --json --target http://127.0.0.1:18191 --target http://127.0.0.1:18192 \
  --target http://127.0.0.1:18193 --concurrency 24 --duration 8s --keys "hot:$HOT" > "$WORK/fo.json" &
LOAD=$!
sleep 2
t_kill=$(date +%s%N)
kill -9 "${PID_OF[$VICTIM]}"
# Exact limiting resumed: after the first decision by the failure mode, the first through Redis.
until [[ $(check_degraded) != null ]]; do sleep 0.01; done
until [[ $(check_degraded) == null ]]; do sleep 0.02; done
t_resumed=$(date +%s%N)
wait "$LOAD"
jq -r '"load through the failover: \(.decisions_per_sec | floor) decisions/s, errors \(.errors)"' "$WORK/fo.json"
echo "SIGKILL to the first decision through Redis on the promoted replica: $(( (t_resumed - t_kill) / 1000000 )) ms"
NEW=$(owner_of_slot "$LIVE")
counter=$(redis-cli -p "$NEW" HGET "ratelimit:c:{$HOT}:lost:3600000" c)
admitted=$(( $(admitted_total) - base_admitted ))
echo "hot key admitted through Redis: $admitted; counter on the promoted replica ($NEW): $counter; increments lost: $(( admitted - counter ))"
