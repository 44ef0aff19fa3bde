//! `store_down` and `low_disk_space`: what PD says about each store.

use operator_core::{Severity, Violation};
use serde_json::json;

use crate::config::Thresholds;
use crate::observation::{StoreState, TikvObservation};

/// `store_down`: a store is not serving.
pub const STORE_DOWN: &str = "store_down";
/// `low_disk_space`: a store's disk is filling up.
pub const LOW_DISK_SPACE: &str = "low_disk_space";

/// One violation per store that is not `Up`.
pub(super) fn store_down(obs: &TikvObservation, out: &mut Vec<Violation>) {
    for store in &obs.stores {
        let (severity, why) = match store.state {
            StoreState::Up | StoreState::Other(_) => continue,
            StoreState::Down => (
                Severity::Critical,
                "no heartbeat for longer than PD's max-store-down-time; PD is re-creating its \
                 replicas on other stores",
            ),
            StoreState::Disconnected => (
                Severity::Warning,
                "no heartbeat to PD for more than 20 s; its Raft leaders are moving away",
            ),
            StoreState::Offline => (
                Severity::Warning,
                "being removed from the cluster; its regions are moving to other stores",
            ),
            StoreState::Tombstone => (
                Severity::Info,
                "removed from the cluster; clear the record with `pd-ctl store remove-tombstone`",
            ),
        };
        let last = store
            .last_heartbeat
            .map(|t| format!(" (last heartbeat {})", t.to_rfc3339()))
            .unwrap_or_default();
        out.push(
            Violation::new(
                STORE_DOWN,
                severity,
                format!("{} is {}: {why}{last}", store.describe(), store.state),
            )
            .entity(store.id.to_string())
            .evidence(json!({
                "store_id": store.id,
                "address": store.address,
                "state": store.state,
                "last_heartbeat": store.last_heartbeat,
                "leader_count": store.leader_count,
                "region_count": store.region_count,
            })),
        );
    }
}

/// One violation per store whose available space is below a threshold (from PD's capacity and
/// available, so it works without Prometheus). Tombstones and stores of unknown capacity are
/// skipped.
pub(super) fn low_disk_space(obs: &TikvObservation, t: &Thresholds, out: &mut Vec<Violation>) {
    for store in &obs.stores {
        if store.state == StoreState::Tombstone {
            continue;
        }
        let Some(ratio) = store.available_ratio() else {
            continue;
        };
        let severity = if ratio < t.disk_available_critical {
            Severity::Critical
        } else if ratio < t.disk_available_warning {
            Severity::Warning
        } else {
            continue;
        };
        let threshold = if severity == Severity::Critical {
            t.disk_available_critical
        } else {
            t.disk_available_warning
        };
        out.push(
            Violation::new(
                LOW_DISK_SPACE,
                severity,
                format!(
                    "{} has {:.1} % of its disk available ({} of {}), below {:.0} %",
                    store.describe(),
                    ratio * 100.0,
                    gib(store.available_bytes),
                    gib(store.capacity_bytes),
                    threshold * 100.0
                ),
            )
            .entity(store.id.to_string())
            .evidence(json!({
                "store_id": store.id,
                "address": store.address,
                "capacity_bytes": store.capacity_bytes,
                "available_bytes": store.available_bytes,
                "available_ratio": ratio,
                "warning_below": t.disk_available_warning,
                "critical_below": t.disk_available_critical,
            })),
        );
    }
}

/// Bytes in GiB, for messages.
fn gib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // two decimals of GiB
    let gib = bytes as f64 / f64::from(1u32 << 30);
    format!("{gib:.2} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::sample;

    fn run(f: impl Fn(&mut TikvObservation)) -> Vec<(String, Severity)> {
        let mut obs = sample::healthy();
        f(&mut obs);
        let mut out = Vec::new();
        store_down(&obs, &mut out);
        low_disk_space(&obs, &Thresholds::default(), &mut out);
        out.into_iter()
            .map(|v| {
                (
                    format!("{}[{}]", v.invariant, v.entity.unwrap_or_default()),
                    v.severity,
                )
            })
            .collect()
    }

    #[test]
    fn store_states() {
        let cases = [
            (StoreState::Up, None),
            (StoreState::Disconnected, Some(Severity::Warning)),
            (StoreState::Down, Some(Severity::Critical)),
            (StoreState::Offline, Some(Severity::Warning)),
            (StoreState::Tombstone, Some(Severity::Info)),
            (StoreState::Other("Serving".into()), None),
        ];
        for (state, expected) in cases {
            let got = run(|obs| obs.stores[1].state = state.clone());
            let expected: Vec<(String, Severity)> = expected
                .map(|s| ("store_down[2]".to_owned(), s))
                .into_iter()
                .collect();
            assert_eq!(got, expected, "{state}");
        }
    }

    #[test]
    fn store_down_message_names_the_store_and_state() {
        let mut obs = sample::healthy();
        obs.stores[0].state = StoreState::Down;
        let mut out = Vec::new();
        store_down(&obs, &mut out);
        assert!(
            out[0]
                .message
                .starts_with("store 1 (tikv1:20160) is Down: no heartbeat"),
            "{}",
            out[0].message
        );
        assert_eq!(out[0].evidence["state"], "Down");
    }

    #[test]
    fn disk_thresholds() {
        // (available GiB of 100, expected)
        let cases = [
            (50, None),
            (20, None),
            (19, Some(Severity::Warning)),
            (10, Some(Severity::Warning)),
            (9, Some(Severity::Critical)),
            (0, Some(Severity::Critical)),
        ];
        for (available, expected) in cases {
            let got = run(|obs| obs.stores[2].available_bytes = available << 30);
            let expected: Vec<(String, Severity)> = expected
                .map(|s| ("low_disk_space[3]".to_owned(), s))
                .into_iter()
                .collect();
            assert_eq!(got, expected, "{available} GiB available");
        }
    }

    #[test]
    fn disk_is_not_judged_without_a_capacity_or_on_a_tombstone() {
        assert_eq!(
            run(|obs| {
                obs.stores[0].capacity_bytes = 0;
                obs.stores[0].available_bytes = 0;
            }),
            []
        );
        let got = run(|obs| {
            obs.stores[0].state = StoreState::Tombstone;
            obs.stores[0].available_bytes = 0;
        });
        assert_eq!(got, [("store_down[1]".to_owned(), Severity::Info)]);
    }

    #[test]
    fn disk_message_and_evidence() {
        let mut obs = sample::healthy();
        obs.stores[0].available_bytes = 5 << 30;
        let mut out = Vec::new();
        low_disk_space(&obs, &Thresholds::default(), &mut out);
        assert_eq!(
            out[0].message,
            "store 1 (tikv1:20160) has 5.0 % of its disk available (5.00 GiB of 100.00 GiB), below 10 %"
        );
        assert_eq!(out[0].evidence["available_bytes"], 5u64 << 30);
    }
}
