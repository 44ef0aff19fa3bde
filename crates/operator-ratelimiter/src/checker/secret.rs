//! `counter_drift` from the identifier secret: nodes that fingerprint API keys under different
//! secrets (or some under none) give one client a counter per secret, so its limit is split.

use std::collections::BTreeMap;

use operator_core::{Severity, Violation};
use serde_json::json;

use super::config::COUNTER_DRIFT;
use crate::observation::Observation;

/// `cause` in the evidence of the violation, which the diagnosis reads.
pub const SECRET_MISMATCH: &str = "identifier_secret_mismatch";
/// Entity of the violation: the cluster's identifier secret (apart from the policy split, which
/// is `counter_drift` without an entity).
const ENTITY: &str = "identifier_secret";

/// The nodes that answered, grouped by the digest of their identifier secret (`None`: no
/// secret), with who holds each.
fn secret_groups(o: &Observation) -> BTreeMap<Option<&str>, Vec<String>> {
    let mut groups: BTreeMap<Option<&str>, Vec<String>> = BTreeMap::new();
    for n in &o.nodes {
        if let Some(i) = &n.info {
            groups
                .entry(i.identifier_secret_digest.as_deref())
                .or_default()
                .push(n.label());
        }
    }
    groups
}

/// Live nodes reporting different identifier secret digests, or some a digest and some none.
pub(crate) fn secret_mismatch(o: &Observation) -> Option<Violation> {
    let groups = secret_groups(o);
    if groups.len() < 2 {
        return None;
    }
    let described: Vec<String> = groups
        .iter()
        .map(|(d, nodes)| match d {
            Some(d) => format!("{} under secret digest {d}", nodes.join(", ")),
            None => format!("{} with no identifier secret", nodes.join(", ")),
        })
        .collect();
    Some(
        Violation::new(
            COUNTER_DRIFT,
            Severity::Critical,
            format!(
                "nodes fingerprint API keys under different identifier secrets ({}): one client's \
                 limit is split, one counter per secret",
                described.join("; ")
            ),
        )
        .entity(ENTITY)
        .evidence(json!({
            "cause": SECRET_MISMATCH,
            "identifier_secrets": groups
                .iter()
                .map(|(d, n)| json!({ "digest": d, "nodes": n }))
                .collect::<Vec<_>>(),
        })),
    )
}
