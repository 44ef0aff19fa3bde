//! `leader_imbalance`: Raft leaders spread over the `Up` stores in proportion to their weights.
//!
//! PD's balance-leader scheduler aims at equal `leader_count / leader_weight` across stores, so a
//! store's fair share is `total × weight / Σ weights`. Only `Up` stores with a positive weight
//! take part (the others are `store_down`'s business, and a zero weight asks for no leaders).

use operator_core::{Severity, Violation};
use serde_json::json;

use crate::config::Thresholds;
use crate::observation::{StoreObservation, StoreState, TikvObservation};

/// `leader_imbalance`: Raft leaders are unevenly spread.
pub const LEADER_IMBALANCE: &str = "leader_imbalance";

/// One violation per `Up` store whose leader count is off its fair share by more than the
/// threshold, once the stores hold enough leaders for the comparison to mean something.
#[allow(clippy::cast_precision_loss)] // leader counts are far below 2^53
pub(super) fn leader_imbalance(obs: &TikvObservation, t: &Thresholds, out: &mut Vec<Violation>) {
    let up: Vec<&StoreObservation> = obs
        .stores
        .iter()
        .filter(|s| s.state == StoreState::Up && s.leader_weight > 0.0)
        .collect();
    if up.len() < 2 {
        return;
    }
    let total: u64 = up.iter().map(|s| s.leader_count).sum();
    let mean = total as f64 / up.len() as f64;
    if mean < t.leader_min_mean as f64 {
        return;
    }
    let weights: f64 = up.iter().map(|s| s.leader_weight).sum();
    for store in &up {
        let share = total as f64 * store.leader_weight / weights;
        let deviation = (store.leader_count as f64 - share) / share;
        if deviation.abs() <= t.leader_imbalance {
            continue;
        }
        let direction = if deviation < 0.0 { "below" } else { "above" };
        out.push(
            Violation::new(
                LEADER_IMBALANCE,
                Severity::Warning,
                format!(
                    "{} holds {} Raft leaders, {:.0} % {direction} its fair share of {share:.1} \
                     ({total} leaders over {} Up stores)",
                    store.describe(),
                    store.leader_count,
                    deviation.abs() * 100.0,
                    up.len()
                ),
            )
            .entity(store.id.to_string())
            .evidence(json!({
                "store_id": store.id,
                "leader_count": store.leader_count,
                "leader_weight": store.leader_weight,
                "fair_share": share,
                "deviation": deviation,
                "threshold": t.leader_imbalance,
                "up_stores": up.len(),
                "total_leaders": total,
            })),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::sample;

    fn run(t: &Thresholds, leaders: &[u64], f: impl Fn(&mut TikvObservation)) -> Vec<String> {
        let mut obs = sample::healthy();
        obs.stores = (1..=leaders.len() as u64).map(sample::store).collect();
        for (store, count) in obs.stores.iter_mut().zip(leaders) {
            store.leader_count = *count;
        }
        f(&mut obs);
        let mut out = Vec::new();
        leader_imbalance(&obs, t, &mut out);
        out.into_iter()
            .map(|v| v.entity.unwrap_or_default())
            .collect()
    }

    #[test]
    fn imbalance_table() {
        let t = Thresholds::default();
        let cases: &[(&[u64], &[&str])] = &[
            (&[14, 14, 14], &[]),
            (&[20, 14, 8], &[]),         // within 50 % of 14
            (&[30, 10, 2], &["1", "3"]), // +114 % and -86 %
            (&[42, 0, 0], &["1", "2", "3"]),
            (&[0, 21, 21], &["1"]),
            (&[5, 3, 1], &[]), // mean 3 < 10: too few leaders to judge
            (&[30], &[]),      // a single store cannot be imbalanced
        ];
        for (leaders, expected) in cases {
            assert_eq!(run(&t, leaders, |_| {}), *expected, "{leaders:?}");
        }
    }

    #[test]
    fn shares_follow_leader_weights() {
        let t = Thresholds::default();
        // Store 1 weighs 2: its share of 40 leaders is 20, the others' 10 each.
        let weighted = |obs: &mut TikvObservation| obs.stores[0].leader_weight = 2.0;
        assert_eq!(run(&t, &[24, 8, 8], weighted), Vec::<String>::new());
        assert_eq!(
            run(&t, &[24, 8, 8], |_| {}),
            ["1"],
            "unweighted, 24 is 80 % above 13.3"
        );
        assert_eq!(run(&t, &[8, 16, 16], weighted), ["1", "2", "3"]);
        // A store of weight 0 asks for no leaders and takes no part.
        let zero = |obs: &mut TikvObservation| obs.stores[2].leader_weight = 0.0;
        assert_eq!(run(&t, &[20, 20, 0], zero), Vec::<String>::new());
    }

    #[test]
    fn only_up_stores_take_part() {
        let t = Thresholds::default();
        let got = run(&t, &[20, 20, 0], |obs| {
            obs.stores[2].state = StoreState::Disconnected;
        });
        assert!(
            got.is_empty(),
            "a disconnected store is store_down's business: {got:?}"
        );
    }

    #[test]
    fn message_gives_share_and_direction() {
        let mut obs = sample::healthy();
        for (s, n) in obs.stores.iter_mut().zip([30, 10, 2]) {
            s.leader_count = n;
        }
        let mut out = Vec::new();
        leader_imbalance(&obs, &Thresholds::default(), &mut out);
        assert_eq!(
            out[1].message,
            "store 3 (tikv3:20160) holds 2 Raft leaders, 86 % below its fair share of 14.0 (42 leaders over 3 Up stores)"
        );
    }
}
