//! The invariants of a primary set watched by Redis Sentinel (`--redis-mode sentinel`), under
//! the cluster invariants' names: `cluster_ok` (no primary named, or fewer sentinels answering
//! than the quorum), `replica_live` (the primary without a live replica), `failover_detected`
//! (the primary changed, old and new named). The primary itself is checked as one Redis.

use operator_core::{Severity, Violation};
use serde_json::json;

use crate::checker::cluster::{CLUSTER_OK, FAILOVER_DETECTED, REPLICA_LIVE};
use crate::observation::Observation;

/// Every sentinel violation of `o`.
pub(crate) fn sentinel_checks(o: &Observation) -> Vec<Violation> {
    let Some(s) = o.redis.sentinel.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let answering = s.answering();
    let evidence = json!({
        "master": s.master, "primary": s.primary, "quorum": s.quorum,
        "answering": answering, "sentinels": s.sentinels,
    });
    match (&s.primary, s.quorum) {
        (None, _) => out.push(
            Violation::new(
                CLUSTER_OK,
                Severity::Critical,
                format!(
                    "Redis Sentinel: no sentinel names a primary for {:?} ({answering} of {} answering)",
                    s.master,
                    s.sentinels.len()
                ),
            )
            .evidence(evidence.clone()),
        ),
        (Some(p), Some(q)) if answering < q => out.push(
            Violation::new(
                CLUSTER_OK,
                Severity::Critical,
                format!(
                    "Redis Sentinel: only {answering} of {} sentinels answer, under the quorum {q} of {:?}: \
                     if primary {p} fails, no failover can be agreed",
                    s.sentinels.len(),
                    s.master
                ),
            )
            .evidence(evidence.clone()),
        ),
        _ => {}
    }
    if let (Some(p), Some(0)) = (&s.primary, s.replicas_live) {
        out.push(
            Violation::new(
                REPLICA_LIVE,
                Severity::Warning,
                format!("Redis primary {p} of {:?} has no live replica: if it fails, nothing takes over", s.master),
            )
            .entity(p)
            .evidence(evidence.clone()),
        );
    }
    for f in &s.failovers {
        out.push(
            Violation::new(
                FAILOVER_DETECTED,
                Severity::Warning,
                format!(
                    "Redis failover of {:?} at {}: primary {} replaced by {} (sentinels' quorum {}). Counter \
                     increments not yet replicated when it failed are lost",
                    s.master,
                    f.at.format("%H:%M:%S"),
                    f.old_primary,
                    f.new_primary,
                    s.quorum.map_or("?".into(), |q| q.to_string())
                ),
            )
            .entity(&f.old_primary)
            .evidence(json!({ "old_primary": f.old_primary, "new_primary": f.new_primary, "at": f.at, "master": s.master })),
        );
    }
    out
}
