//! The sliding-window arithmetic of the `local` failure mode (the mirror of `lua/check.lua`),
//! over generated request sequences: a window's count never passes its limit, a denial changes
//! nothing and says when to come back, and coming back then is admitted.

use proptest::prelude::*;
use ratelimiter_node::algorithm::{Counter, decide};
use ratelimiter_schema::Window;

fn windows() -> impl Strategy<Value = Vec<Window>> {
    prop::collection::btree_map(1u64..20_000, 1u64..50, 1..4).prop_map(|m| {
        m.into_iter()
            .map(|(window_ms, limit)| Window::new(limit, window_ms))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn counts_stay_within_limits_and_denials_change_nothing(
        windows in windows(),
        start in 0u64..1_000_000_000_000,
        steps in prop::collection::vec((0u64..3_000, 1u64..50), 1..80),
    ) {
        let min_limit = windows.iter().map(|w| w.limit).min().unwrap();
        let mut counters = vec![Counter::default(); windows.len()];
        let mut now = start;
        for (delta, cost) in steps {
            now += delta;
            let cost = cost.min(min_limit);
            let before = counters.clone();
            let outcome = decide(&mut counters, &windows, cost, now);
            prop_assert!(outcome.reported < windows.len());
            prop_assert_eq!(outcome.windows.len(), windows.len());
            for ((remaining, reset), w) in outcome.windows.iter().zip(&windows) {
                prop_assert!(*remaining <= w.limit);
                prop_assert!(*reset >= 1 && *reset <= w.window_ms, "reset {} of {:?}", reset, w);
            }
            if outcome.allowed {
                prop_assert_eq!(outcome.retry_after_ms, 0);
                for (c, w) in counters.iter().zip(&windows) {
                    prop_assert_eq!(c.index, now / w.window_ms);
                    prop_assert!(c.current <= w.limit, "{:?} over {:?}", c, w);
                }
            } else {
                prop_assert!(outcome.retry_after_ms >= 1);
                prop_assert_eq!(&counters, &before, "a denial consumes nothing");
                // Coming back when told to, with nothing else in between, is admitted.
                let mut later = counters.clone();
                let back = decide(&mut later, &windows, cost, now + outcome.retry_after_ms);
                prop_assert!(back.allowed, "denied again at +{} ms: {:?}", outcome.retry_after_ms, back);
            }
        }
    }
}
