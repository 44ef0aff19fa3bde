//! The catalog lines of seed 004's failure causes, each a fault: a node with another key prefix
//! (`key-prefix-mismatch`) or a shifted clock (`clock-drift`, both in `drift_faults`), eviction
//! under `maxmemory` (`eviction`, `memory_faults`), a slow Redis that still answers
//! (`slow-redis`, `latency_faults`); and seed 003's check-then-increment race (`naive-mode`,
//! `mode_faults`).

use super::fault::FaultSpec;

/// Their lines of `operator chaos list`.
pub(super) fn catalog() -> Vec<FaultSpec> {
    vec![
        FaultSpec {
            name: "key-prefix-mismatch",
            arg: Some("N"),
            does: "restart node N with --key-prefix chaos-other: (local only): its counters and policies are its own, so its users get a separate limit",
            undo: "`chaos undo key-prefix-mismatch N` restarts it with its usual flags and deletes the keys written under chaos-other:",
        },
        FaultSpec {
            name: "clock-drift",
            arg: Some("N OFFSET"),
            does: "restart node N with --clock-offset-ms OFFSET (local only; e.g. 5s, -5s behind): the node's own clock moves (/v1/node now_ms, the windows of its `local` failure mode, its logs); shared decisions keep using Redis TIME and stay exact",
            undo: "`chaos undo clock-drift N` restarts it with its usual flags (its clock back on the host's)",
        },
        FaultSpec {
            name: "eviction",
            arg: None,
            does: "CONFIG SET maxmemory a little above the memory Redis uses, maxmemory-policy allkeys-lru, then fill with chaos:fill:* keys (60 s TTL) until Redis evicts: limiter counters and the policies go with them (local only: its undo knows the local Redis's settings)",
            undo: "`chaos undo eviction` sets maxmemory 0 and maxmemory-policy noeviction again (the local Redis's settings), deletes the fill keys",
        },
        FaultSpec {
            name: "slow-redis",
            arg: Some("LATENCY DURATION"),
            does: "for DURATION, a client runs busy Lua scripts of LATENCY back to back: Redis still answers, each command up to LATENCY late; the nodes are restarted with --redis-timeout-ms above LATENCY meanwhile (local only), so that their decisions wait (with their usual 50 ms they would give up and decide by their failure mode: Redis down, not slow)",
            undo: "undoes itself when DURATION ends: the nodes restarted with their usual flags, verified (PING, every node ready); `chaos undo slow-redis` restores the nodes an interrupted run left",
        },
        FaultSpec {
            name: "naive-mode",
            arg: None,
            does: "restart every node with --limiter-mode naive (local only; seed 003's teaching mode): each reads a counter and increments it in two separate Redis calls, so concurrent requests race past the limit (non-atomic check-and-increment); the monitor's over_admission says by how much",
            undo: "`chaos undo naive-mode` restarts every node with its usual flags (limiter mode atomic, exact again)",
        },
    ]
}
