//! `abuse_detected`.

use operator_core::{InvariantChecker, Severity, Unknown};
use ratelimiter_schema::{AbuseInfo, BlockReason, BlockedClient, MemoryGuardInfo};

use super::{check, info_mut, names};
use crate::checker::sample::{healthy, history};
use crate::checker::*;
use crate::observation::Observation;

/// The node's clock in [`healthy`].
const NOW: u64 = 1_800_000_000_000;

fn block(i: usize, reason: BlockReason, until_ms: u64) -> BlockedClient {
    BlockedClient {
        client: format!("ip:fp-{i:032x}"),
        reason,
        distinct_keys: (reason == BlockReason::Enumeration).then_some(300),
        at_ms: NOW - 1_000,
        until_ms,
    }
}

/// `healthy(t)` with node 0 reporting `abuse`.
fn abused(t: i64, abuse: AbuseInfo) -> Observation {
    let mut o = healthy(t);
    info_mut(&mut o, 0).abuse = abuse;
    o
}

#[test]
fn a_botnet_opens_one_ticket_per_node_with_capped_evidence() {
    let abuse = AbuseInfo {
        enumeration_limit: 50,
        enumeration_blocks: 20,
        recent_blocks: (0..20)
            .map(|i| block(i, BlockReason::Enumeration, NOW + 600_000))
            .collect(),
        ..AbuseInfo::default()
    };
    let mut o = abused(500, abuse.clone());
    info_mut(&mut o, 1).abuse = abuse;
    let v = check(&o, vec![healthy(0)]);
    assert_eq!(
        names(&v),
        [
            "abuse_detected[127.0.0.1:8001]",
            "abuse_detected[127.0.0.1:8002]"
        ],
        "one per node, not per client"
    );
    let e = &v[0].evidence;
    assert_eq!(v[0].severity, Severity::Warning);
    assert_eq!(e["clients_blocked"], 20);
    assert_eq!(e["clients"].as_array().unwrap().len(), MAX_CLIENTS);
    assert_eq!(e["since_last"]["enumeration_blocks"], 20);
    assert_eq!(e["clients"][0]["distinct_keys"], 300);
    assert!(
        v[0].message
            .contains("20 clients blocked for key enumeration"),
        "{}",
        v[0].message
    );
}

#[test]
fn what_fires_and_what_stays_quiet() {
    let honeypot = AbuseInfo {
        honeypot_hits: 1,
        recent_blocks: vec![block(1, BlockReason::Honeypot, NOW + 600_000)],
        ..AbuseInfo::default()
    };
    let guard = AbuseInfo {
        memory_guard: MemoryGuardInfo {
            ratio: 0.8,
            active: true,
            used_memory: Some(90),
            maxmemory: Some(100),
            guarded_decisions: 7,
        },
        ..AbuseInfo::default()
    };
    let expired = AbuseInfo {
        enumeration_blocks: 1,
        recent_blocks: vec![block(1, BlockReason::Enumeration, NOW - 1)],
        ..AbuseInfo::default()
    };
    let refusals_only = AbuseInfo {
        blocked_requests: 500,
        ..AbuseInfo::default()
    };
    // (what node 0 reports now, what it reported before, fires, message part)
    let cases = [
        (honeypot.clone(), AbuseInfo::default(), true, "honeypot key"),
        (
            guard,
            AbuseInfo::default(),
            true,
            "memory guard on (Redis at 90%",
        ),
        // A block that expired, counted before: nothing new.
        (expired.clone(), expired.clone(), false, ""),
        // A new block that already expired still tells it happened.
        (expired, AbuseInfo::default(), true, "1 new block"),
        // Refusals of clients another node blocked: that node reports them.
        (refusals_only, AbuseInfo::default(), false, ""),
        (AbuseInfo::default(), AbuseInfo::default(), false, ""),
    ];
    for (now, before, fires, part) in cases {
        let v = check(&abused(500, now.clone()), vec![abused(0, before)]);
        let abuse: Vec<_> = v.iter().filter(|v| v.invariant == ABUSE_DETECTED).collect();
        assert_eq!(abuse.len(), usize::from(fires), "{now:?}: {v:?}");
        if fires {
            assert!(abuse[0].message.contains(part), "{}", abuse[0].message);
        }
    }
}

#[test]
fn counts_since_start_are_not_taken_as_recent_without_a_previous_observation() {
    let old = AbuseInfo {
        honeypot_hits: 3,
        enumeration_blocks: 2,
        ..AbuseInfo::default()
    };
    assert!(check(&abused(0, old), vec![]).is_empty());
}

#[test]
fn a_node_that_did_not_answer_leaves_abuse_unknown() {
    let mut o = healthy(0);
    o.nodes[2].info = None;
    let unknown = RateLimiterChecker::default().unknown(&o, &history(vec![]));
    assert!(unknown.contains(&Unknown::entity(ABUSE_DETECTED, "127.0.0.1:8003")));
}
