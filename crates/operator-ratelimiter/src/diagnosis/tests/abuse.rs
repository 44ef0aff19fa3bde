//! Rules about abuse, the node token and the identifier secret.

use ratelimiter_schema::{AbuseInfo, BlockReason, BlockedClient, MemoryGuardInfo};

use super::{actions, context_for, diagnose};
use crate::checker::sample::healthy;
use crate::error::ErrorKind;
use crate::observation::{KeyKind, KeyScan, Observation, StuckKey};

const NOW: u64 = 1_800_000_000_000;

fn blocked(reason: BlockReason, n: usize) -> Vec<BlockedClient> {
    (0..n)
        .map(|i| BlockedClient {
            client: format!("ip:fp-{i:032x}"),
            reason,
            distinct_keys: (reason == BlockReason::Enumeration).then_some(301),
            at_ms: NOW - 1_000,
            until_ms: NOW + 600_000,
        })
        .collect()
}

fn with_abuse(t: i64, abuse: AbuseInfo) -> Observation {
    let mut o = healthy(t);
    o.nodes[0].info.as_mut().unwrap().abuse = abuse;
    o
}

fn diagnosed(abuse: AbuseInfo) -> operator_core::DiagnosisReport {
    let o = with_abuse(500, abuse);
    diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "abuse_detected[127.0.0.1:8001]",
        vec![],
    ))
}

#[test]
fn enumeration_names_the_guessing_and_says_the_node_already_blocks_it() {
    let r = diagnosed(AbuseInfo {
        enumeration_limit: 100,
        enumeration_blocks: 3,
        recent_blocks: blocked(BlockReason::Enumeration, 3),
        ..AbuseInfo::default()
    });
    assert_eq!(r.rule.as_deref(), Some("key_enumeration"));
    assert!(
        r.diagnosis
            .summary
            .contains("more than 100 distinct API keys")
            && r.diagnosis.summary.contains("already refuses"),
        "{}",
        r.diagnosis.summary
    );
    assert!(
        r.diagnosis
            .evidence
            .iter()
            .any(|c| c.detail.contains("301 distinct keys"))
    );
    assert!(actions(&r).is_empty(), "nothing to reset: the node blocks");
}

#[test]
fn a_honeypot_hit_is_a_leak_to_find() {
    let r = diagnosed(AbuseInfo {
        honeypot_hits: 1,
        recent_blocks: blocked(BlockReason::Honeypot, 1),
        ..AbuseInfo::default()
    });
    assert_eq!(r.rule.as_deref(), Some("honeypot_hit"));
    assert!(r.diagnosis.summary.contains("leaked") || r.diagnosis.summary.contains("planted"));
    assert!(actions(&r).is_empty());
}

#[test]
fn memory_pressure_from_a_key_flood_repairs_ttls_only_when_keys_lack_one() {
    let guard = AbuseInfo {
        memory_guard: MemoryGuardInfo {
            ratio: 0.8,
            active: true,
            used_memory: Some(95),
            maxmemory: Some(100),
            guarded_decisions: 1_000,
        },
        ..AbuseInfo::default()
    };
    let r = diagnosed(guard.clone());
    assert_eq!(r.rule.as_deref(), Some("memory_pressure_from_key_flood"));
    assert!(
        r.diagnosis.summary.contains("flood of unique keys") && r.diagnosis.summary.contains("95%"),
        "{}",
        r.diagnosis.summary
    );
    assert!(actions(&r).is_empty());

    let mut o = with_abuse(500, guard);
    o.redis.keys = Some(KeyScan {
        stuck: vec![StuckKey {
            key: "ratelimit:junk".into(),
            kind: KeyKind::Other,
        }],
        stuck_total: 1,
        ..KeyScan::default()
    });
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "abuse_detected[127.0.0.1:8001]",
        vec![],
    ));
    assert_eq!(
        actions(&r),
        [serde_json::json!({"action": "repair_stuck_keys", "args": {}})]
    );
}

#[test]
fn a_missing_token_is_named_not_taken_for_a_dead_node() {
    let mut o = healthy(500);
    o.nodes[1].info = None;
    o.nodes[1].error =
        Some("/v1/node: node requires a token: pass --node-token or OPERATOR_NODE_TOKEN".into());
    o.nodes[1].error_kind = Some(ErrorKind::Unauthorized);
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "node_down[127.0.0.1:8002]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("node_token_required"));
    assert!(
        r.diagnosis
            .summary
            .contains("--node-token or OPERATOR_NODE_TOKEN"),
        "{}",
        r.diagnosis.summary
    );
    assert!(!r.diagnosis.summary.contains("restart"));
}

#[test]
fn different_identifier_secrets_are_named_with_the_fix() {
    let mut o = healthy(500);
    for (i, d) in [Some("aa"), Some("aa"), Some("bb")].into_iter().enumerate() {
        o.nodes[i].info.as_mut().unwrap().identifier_secret_digest = d.map(str::to_owned);
    }
    let r = diagnose(&context_for(
        &o,
        vec![healthy(0)],
        "counter_drift[identifier_secret]",
        vec![],
    ));
    assert_eq!(r.rule.as_deref(), Some("identifier_secret_mismatch"));
    assert_eq!(
        r.diagnosis.root_cause,
        "nodes fingerprint API keys under different secrets: one client's limit is split"
    );
    let s = &r.diagnosis.summary;
    assert!(s.contains("RATELIMITER_IDENTIFIER_SECRET"), "{s}");
    assert!(
        s.contains("n8003 (127.0.0.1:8003) (secret digest bb)"),
        "{s}"
    );
}
