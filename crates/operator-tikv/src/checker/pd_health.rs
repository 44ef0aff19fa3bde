//! `pd_unhealthy`: PD members, endpoints and leadership.
//!
//! Problems are gathered per entity (a member's name, an endpoint that matches no member, or
//! none for PD as a whole) and reported as one violation each, at the worst severity found.

use std::collections::BTreeMap;

use operator_core::{Severity, Violation};
use serde_json::{Value, json};

use crate::observation::{Freshness, PdMember, TikvObservation};

/// `pd_unhealthy`: a PD member is unhealthy, or PD as a whole is impaired.
pub const PD_UNHEALTHY: &str = "pd_unhealthy";

#[derive(Default)]
struct Problems {
    severity: Option<Severity>,
    messages: Vec<String>,
    evidence: Vec<Value>,
}

impl Problems {
    fn add(&mut self, severity: Severity, message: String, evidence: Value) {
        self.severity = self.severity.max(Some(severity));
        self.messages.push(message);
        self.evidence.push(evidence);
    }
}

/// Violations of `pd_unhealthy`.
pub(super) fn pd_unhealthy(obs: &TikvObservation, out: &mut Vec<Violation>) {
    let pd = &obs.pd;
    let mut problems: BTreeMap<Option<String>, Problems> = BTreeMap::new();

    if !matches!(pd.members_source, Freshness::Unavailable { .. }) {
        let total = pd.members.len();
        let healthy = pd
            .members
            .iter()
            .filter(|m| m.healthy == Some(true))
            .count();
        let quorum_lost = total > 0 && healthy * 2 <= total;
        for member in pd.members.iter().filter(|m| m.healthy == Some(false)) {
            let (severity, quorum) = if quorum_lost {
                (
                    Severity::Critical,
                    format!("; PD quorum is lost: {healthy} of {total} members healthy"),
                )
            } else {
                (Severity::Warning, String::new())
            };
            problems.entry(Some(member.name.clone())).or_default().add(
                severity,
                format!(
                    "PD member {} ({}) fails PD's health check{quorum}",
                    member.name,
                    member.client_urls.join(", ")
                ),
                json!({
                    "problem": "member_unhealthy",
                    "member": member.name,
                    "member_id": member.member_id,
                    "client_urls": member.client_urls,
                    "healthy_members": healthy,
                    "members": total,
                }),
            );
        }
        if pd.members_source.is_live() && total > 0 && pd.leader.is_none() {
            problems.entry(None).or_default().add(
                Severity::Critical,
                "PD has no leader: it cannot schedule or allocate timestamps".to_owned(),
                json!({ "problem": "no_leader", "members": total }),
            );
        }
    }
    match &pd.members_source {
        Freshness::Stale { as_of, error } => problems.entry(None).or_default().add(
            Severity::Warning,
            format!(
                "PD's member and health APIs fail at {} ({error}); member health shown as of {}",
                pd.endpoint,
                as_of.to_rfc3339()
            ),
            json!({ "problem": "health_api_failing", "endpoint": pd.endpoint, "error": error, "as_of": as_of }),
        ),
        Freshness::Unavailable { error } => problems.entry(None).or_default().add(
            Severity::Warning,
            format!(
                "PD's member and health APIs fail at {} ({error}); member health unknown",
                pd.endpoint
            ),
            json!({ "problem": "health_api_failing", "endpoint": pd.endpoint, "error": error }),
        ),
        Freshness::Live | Freshness::Disabled => {}
    }

    for failure in &pd.unreachable {
        let entity = member_of_endpoint(&pd.members, &failure.endpoint)
            .map_or_else(|| failure.endpoint.clone(), |m| m.name.clone());
        problems.entry(Some(entity)).or_default().add(
            Severity::Warning,
            format!(
                "PD endpoint {} does not answer ({}); observed through {}",
                failure.endpoint, failure.error, pd.endpoint
            ),
            json!({ "problem": "endpoint_unreachable", "endpoint": failure.endpoint, "error": failure.error }),
        );
    }

    for (entity, p) in problems {
        let Some(severity) = p.severity else { continue };
        let mut v = Violation::new(PD_UNHEALTHY, severity, p.messages.join("; ")).evidence(
            json!({ "problems": p.evidence, "leader": pd.leader, "endpoint": pd.endpoint }),
        );
        if let Some(entity) = entity {
            v = v.entity(entity);
        }
        out.push(v);
    }
}

/// The member one of whose client URLs is `endpoint` (ignoring a trailing slash).
fn member_of_endpoint<'a>(members: &'a [PdMember], endpoint: &str) -> Option<&'a PdMember> {
    let endpoint = endpoint.trim_end_matches('/');
    members.iter().find(|m| {
        m.client_urls
            .iter()
            .any(|u| u.trim_end_matches('/') == endpoint)
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::checker::sample;
    use crate::error::EndpointFailure;

    fn run(f: impl Fn(&mut TikvObservation)) -> Vec<Violation> {
        let mut obs = sample::healthy();
        f(&mut obs);
        let mut out = Vec::new();
        pd_unhealthy(&obs, &mut out);
        out
    }

    type Key<'a> = (Option<&'a str>, Severity);

    fn keys(violations: &[Violation]) -> Vec<Key<'_>> {
        violations
            .iter()
            .map(|v| (v.entity.as_deref(), v.severity))
            .collect()
    }

    #[test]
    fn healthy_pd_is_fine() {
        assert!(run(|_| {}).is_empty());
    }

    #[test]
    fn member_health_and_quorum() {
        let cases: Vec<(Vec<Option<bool>>, Vec<Key<'_>>)> = vec![
            (
                vec![Some(true), Some(false), Some(true)],
                vec![(Some("pd2"), Severity::Warning)],
            ),
            (
                vec![Some(true), Some(false), Some(false)],
                vec![
                    (Some("pd2"), Severity::Critical),
                    (Some("pd3"), Severity::Critical),
                ],
            ),
            // Unknown health is not unhealthy, but it does not count towards quorum either.
            (
                vec![Some(true), None, Some(false)],
                vec![(Some("pd3"), Severity::Critical)],
            ),
            (vec![Some(true), None, Some(true)], vec![]),
        ];
        for (health, expected) in cases {
            let got = run(|obs| {
                for (m, h) in obs.pd.members.iter_mut().zip(&health) {
                    m.healthy = *h;
                }
            });
            assert_eq!(keys(&got), expected, "{health:?}");
        }
    }

    #[test]
    fn no_leader_is_critical_for_pd_as_a_whole() {
        let got = run(|obs| obs.pd.leader = None);
        assert_eq!(keys(&got), [(None, Severity::Critical)]);
        assert!(got[0].message.contains("no leader"));
    }

    #[test]
    fn failing_health_api_keeps_the_last_known_member_health() {
        let as_of = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        let got = run(|obs| {
            obs.pd.members[2].healthy = Some(false);
            obs.pd.leader = None; // not judged from stale data
            obs.pd.members_source = Freshness::Stale {
                as_of,
                error: "HTTP 500".into(),
            };
        });
        assert_eq!(
            keys(&got),
            [(None, Severity::Warning), (Some("pd3"), Severity::Warning)]
        );
        assert!(
            got[0].message.contains("as of 2025-01-01T00:00:00+00:00"),
            "{}",
            got[0].message
        );

        let got = run(|obs| {
            obs.pd.members.clear();
            obs.pd.leader = None;
            obs.pd.members_source = Freshness::Unavailable {
                error: "HTTP 500".into(),
            };
        });
        assert_eq!(keys(&got), [(None, Severity::Warning)]);
        assert!(got[0].message.contains("member health unknown"));
    }

    #[test]
    fn unreachable_endpoints_are_named_by_member_when_possible() {
        let got = run(|obs| {
            obs.pd.members[1].healthy = Some(false);
            obs.pd.unreachable = vec![
                EndpointFailure {
                    endpoint: "http://pd2:2379/".into(),
                    error: "timed out".into(),
                },
                EndpointFailure {
                    endpoint: "http://10.0.0.9:2379".into(),
                    error: "Connection refused".into(),
                },
            ];
        });
        assert_eq!(
            keys(&got),
            [
                (Some("http://10.0.0.9:2379"), Severity::Warning),
                (Some("pd2"), Severity::Warning)
            ]
        );
        let pd2 = &got[1];
        assert!(
            pd2.message.contains(
                "fails PD's health check; PD endpoint http://pd2:2379/ does not answer (timed out)"
            ),
            "{}",
            pd2.message
        );
        assert_eq!(pd2.evidence["problems"].as_array().unwrap().len(), 2);
    }
}
