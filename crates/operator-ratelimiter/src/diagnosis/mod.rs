//! What the rate limiter knows about its own incidents: the offline diagnosis rules for each of
//! its invariants, and the extra context it supplies (per-node failure-mode counts, a Redis
//! `INFO` excerpt, recent node log lines).
//!
//! | rule | invariants | recognised by | actions |
//! |------|-----------|---------------|---------|
//! | `redis_cluster_failover` | `failover_detected`, `replica_live`, `redis_healthy`, `over_admission` | a primary replaced by its replica (old and new primary, the slots) | none (restart the old primary: it rejoins as a replica) |
//! | `redis_cluster_shard_lost` | `cluster_ok`, `redis_healthy`, `over_admission` | a primary serving slots down with no live replica | none (restart it, or `redis-cli --cluster fix`) |
//! | `redis_cluster_failover_pending` | `cluster_ok`, `redis_healthy`, `over_admission` | a primary serving slots down, a live replica about to take over | none (wait) |
//! | `redis_cluster_slots_unassigned` | `cluster_ok` | uncovered slots no primary lists | none (`redis-cli --cluster fix`) |
//! | `redis_down` | `redis_healthy`, and as the cause of `over_admission`, `node_down`, `config_loaded`, `high_latency` | Redis unreachable for the monitor (refused: not running; timed out: frozen or cut off) | none (restart Redis) |
//! | `redis_restarted_empty` | `config_loaded`, `redis_healthy` | Redis `run_id` changed and the policies are gone or were re-seeded | `reseed_policies` |
//! | `policies_deleted` | `config_loaded`, `node_down` | no policies hash while Redis kept its `run_id`; nodes not ready because Redis holds no policies | `reseed_policies` |
//! | `policies_invalid` | `config_loaded` | fields of the policies hash that do not parse | none (fix by hand) |
//! | `stale_node_policies` | `config_loaded`, `counter_drift` | a node serving another digest than Redis at the same version | none (bump the version) |
//! | `keys_without_ttl` | `no_stuck_keys` | keys under the prefix with no TTL, by kind | `repair_stuck_keys` |
//! | `eviction_under_maxmemory` | `redis_healthy`, `over_admission`, `no_stuck_keys` | `evicted_keys` growing, memory near `maxmemory` | `repair_stuck_keys` when keys without TTL hold memory |
//! | `script_cache_flushed` | `high_latency`, `over_admission`, `redis_healthy` | `number_of_cached_scripts` fell with the same `run_id` (`NOSCRIPT` errors back it, never alone: each node's first EVALSHA gets one) | none (nodes reload) |
//! | `node_process_down` | `node_down` | the node refuses connections (not running) or times out (frozen) | none (restart the node) |
//! | `node_not_ready` | `node_down` | the node answers but `/readyz` says why it is not ready | none |
//! | `clock_skew` | `counter_drift` | a node clock away from Redis `TIME` | none (fix NTP) |
//! | `key_prefix_mismatch` | `counter_drift` | a node reporting another key prefix | none (restart it with the right prefix) |
//! | `redis_slow_for_nodes` | `high_latency` | nodes' Redis timeouts or errors growing, Redis slow or paused, the monitor's PING over 20 ms | none |
//! | `node_lost_redis` | `over_admission` | a node deciding by its failure mode while the monitor reaches Redis | none |
//! | `non_atomic_check_and_increment` | `over_admission` | nodes in `--limiter-mode naive` (read, then increment in another call) | none (restart them atomic) |
//! | `per_process_counters` | `over_admission` | nodes in `--limiter-mode memory` (counters in each process) | none (restart them atomic) |
//! | `counter_over_limit` | `over_admission` | counters above their limit in the current window | `reset_counter` per key |
//! | `node_token_required` | `node_down` | the node answers 401 (or 429) to the monitor's `/v1/node`: `--node-token` missing or wrong | none (pass `--node-token`) |
//! | `identifier_secret_mismatch` | `counter_drift` | live nodes reporting different identifier secret digests (or some none) | none (same `RATELIMITER_IDENTIFIER_SECRET` everywhere) |
//! | `key_enumeration` | `abuse_detected` | clients blocked for trying too many distinct API keys | none (the node blocks them) |
//! | `honeypot_hit` | `abuse_detected` | clients blocked for a honeypot key, honeypot hits growing | none (find the leak) |
//! | `memory_pressure_from_key_flood` | `abuse_detected` | the memory guard on, new keys decided in process | `repair_stuck_keys` when keys without TTL are reported too |
//!
//! Layout: the rules by concern, `cluster` (a Redis Cluster's failovers and lost slots), `outage` (`redis_down`), `redis` (Redis's other troubles),
//! `policies`, `modes` (the nodes' teaching limiter modes), `nodes`, `access` (the node token, the identifier secret), `abuse`; `evidence` (what a rule reads from its context, failure kinds included)
//! and `wording`, which the rules share; `sources`, the extra context, read through the Redis
//! handle the subject gives. This module lists the rules; the rules never import it.

mod abuse;
mod access;
mod cluster;
mod evidence;
mod modes;
mod nodes;
mod outage;
mod policies;
mod redis;
mod sources;
mod wording;

use operator_core::diagnosis::Rule;

pub use sources::ContextSources;
pub(crate) use sources::gather as context_sections;

/// The rate limiter's diagnosis rules, most specific first.
pub fn rules() -> Vec<Rule> {
    let mut rules = cluster::rules();
    rules.extend(redis::rules());
    rules.extend(policies::rules());
    rules.extend(modes::rules());
    rules.extend(nodes::rules());
    rules.extend(access::rules());
    rules.extend(abuse::rules());
    rules
}

#[cfg(test)]
mod tests;
