//! `high_latency` and `prometheus_unreachable`: what Prometheus says, and whether it says it.

use operator_core::{Severity, Violation};
use serde_json::json;

use crate::config::Thresholds;
use crate::observation::{Freshness, TikvObservation};

/// `high_latency`: a store's gRPC p99 latency is too high.
pub const HIGH_LATENCY: &str = "high_latency";
/// `prometheus_unreachable`: metrics cannot be read.
pub const PROMETHEUS_UNREACHABLE: &str = "prometheus_unreachable";

/// One violation per store whose gRPC p99 is above the warning threshold. Stale values (the
/// last Prometheus gave) are judged too, and the message says so.
pub(super) fn high_latency(obs: &TikvObservation, t: &Thresholds, out: &mut Vec<Violation>) {
    let warning = t.p99_warning.as_secs_f64();
    let critical = t.p99_critical.as_secs_f64();
    let stale = match &obs.metrics.source {
        Freshness::Stale { as_of, .. } => Some(*as_of),
        _ => None,
    };
    for store in &obs.stores {
        let Some(p99) = store.grpc_p99_seconds else {
            continue;
        };
        let severity = if p99 >= critical {
            Severity::Critical
        } else if p99 > warning {
            Severity::Warning
        } else {
            continue;
        };
        let threshold_ms = if severity == Severity::Critical {
            t.p99_critical.as_millis()
        } else {
            t.p99_warning.as_millis()
        };
        let stale_note = stale
            .map(|as_of| {
                format!(
                    " (last known value, as of {}: Prometheus is unreachable)",
                    as_of.to_rfc3339()
                )
            })
            .unwrap_or_default();
        out.push(
            Violation::new(
                HIGH_LATENCY,
                severity,
                format!(
                    "{} gRPC p99 latency is {:.0} ms, above {threshold_ms} ms{stale_note}",
                    store.describe(),
                    p99 * 1000.0
                ),
            )
            .entity(store.id.to_string())
            .evidence(json!({
                "store_id": store.id,
                "status_address": store.status_address,
                "grpc_p99_ms": p99 * 1000.0,
                "qps": store.qps,
                "warning_above_ms": t.p99_warning.as_millis(),
                "critical_from_ms": t.p99_critical.as_millis(),
                "metrics": obs.metrics.source,
            })),
        );
    }
}

/// A violation when the configured Prometheus does not answer.
pub(super) fn prometheus_unreachable(obs: &TikvObservation, out: &mut Vec<Violation>) {
    let message = match &obs.metrics.source {
        Freshness::Live | Freshness::Disabled => return,
        Freshness::Stale { as_of, error } => format!(
            "Prometheus does not answer ({error}); store latency shown as of {}",
            as_of.to_rfc3339()
        ),
        Freshness::Unavailable { error } => {
            format!("Prometheus does not answer ({error}); store latency is not evaluated")
        }
    };
    out.push(
        Violation::new(PROMETHEUS_UNREACHABLE, Severity::Warning, message)
            .evidence(json!({ "metrics": obs.metrics.source })),
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::DateTime;

    use super::*;
    use crate::checker::sample;

    fn run(t: &Thresholds, f: impl Fn(&mut TikvObservation)) -> Vec<Violation> {
        let mut obs = sample::healthy();
        f(&mut obs);
        let mut out = Vec::new();
        high_latency(&obs, t, &mut out);
        prometheus_unreachable(&obs, &mut out);
        out
    }

    #[test]
    fn p99_thresholds() {
        let t = Thresholds::default();
        // (p99 seconds, expected severity)
        let cases = [
            (None, None),
            (Some(0.010), None),
            (Some(0.500), None),
            (Some(0.501), Some(Severity::Warning)),
            (Some(1.999), Some(Severity::Warning)),
            (Some(2.0), Some(Severity::Critical)),
            (Some(30.0), Some(Severity::Critical)),
        ];
        for (p99, expected) in cases {
            let got = run(&t, |obs| obs.stores[1].grpc_p99_seconds = p99);
            let got: Vec<(Option<&str>, Severity)> = got
                .iter()
                .map(|v| (v.entity.as_deref(), v.severity))
                .collect();
            let expected: Vec<(Option<&str>, Severity)> =
                expected.map(|s| (Some("2"), s)).into_iter().collect();
            assert_eq!(got, expected, "p99 {p99:?}");
        }
    }

    #[test]
    fn thresholds_are_configurable() {
        let t = Thresholds {
            p99_warning: Duration::from_millis(50),
            p99_critical: Duration::from_millis(100),
            ..Thresholds::default()
        };
        let got = run(&t, |obs| obs.stores[0].grpc_p99_seconds = Some(0.08));
        assert_eq!(got[0].severity, Severity::Warning);
        assert_eq!(
            got[0].message,
            "store 1 (tikv1:20160) gRPC p99 latency is 80 ms, above 50 ms"
        );
    }

    #[test]
    fn stale_latency_is_still_judged_and_says_so() {
        let as_of = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        let got = run(&Thresholds::default(), |obs| {
            obs.stores[0].grpc_p99_seconds = Some(0.9);
            obs.metrics.source = Freshness::Stale {
                as_of,
                error: "timed out".into(),
            };
        });
        let names: Vec<&str> = got.iter().map(|v| v.invariant.as_str()).collect();
        assert_eq!(names, [HIGH_LATENCY, PROMETHEUS_UNREACHABLE]);
        assert!(
            got[0].message.contains("last known value"),
            "{}",
            got[0].message
        );
        assert_eq!(got[0].evidence["metrics"]["state"], "stale");
        assert!(got[1].message.contains("timed out") && got[1].entity.is_none());
    }

    #[test]
    fn prometheus_sources() {
        let cases = [
            (Freshness::Live, 0),
            (Freshness::Disabled, 0),
            (
                Freshness::Unavailable {
                    error: "refused".into(),
                },
                1,
            ),
        ];
        for (source, expected) in cases {
            let got = run(&Thresholds::default(), |obs| {
                obs.metrics.source = source.clone()
            });
            assert_eq!(got.len(), expected, "{source:?}");
        }
    }
}
