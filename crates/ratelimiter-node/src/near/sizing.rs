//! How large a lease may be: so that the quota unspent in every node's lease of one key stays
//! under 1 % of the key's smallest limit.

use ratelimiter_schema::Window;

/// The most a lease of one key may hold, given its policy's `windows` and the nodes Up
/// (`live_nodes`, at least 1): `floor(0.01 × limit / live_nodes)` of the smallest limit. Each
/// node holds at most one lease per key and the request that takes it spends at least one unit,
/// so the unspent total over all nodes stays below `live_nodes × size ≤ 1 %` of the limit.
pub fn lease_size(windows: &[Window], live_nodes: usize) -> u64 {
    let nodes = u64::try_from(live_nodes.max(1)).unwrap_or(u64::MAX);
    windows
        .iter()
        .map(|w| w.limit / nodes.saturating_mul(100))
        .min()
        .unwrap_or(0)
}

/// The units a Redis call for a request of `cost` asks for: `cost` plus a lease when the lease
/// size exceeds the cost (else exactly `cost`: the exact path, no lease).
pub fn units_wanted(windows: &[Window], live_nodes: usize, cost: u64) -> u64 {
    lease_size(windows, live_nodes).max(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(limit: u64) -> Window {
        Window {
            limit,
            window_ms: 1000,
            burst: None,
        }
    }

    #[test]
    fn leases_keep_the_unspent_total_under_one_percent() {
        assert_eq!(lease_size(&[w(100)], 3), 0, "small limits stay exact");
        assert_eq!(lease_size(&[w(3000)], 3), 10);
        assert_eq!(lease_size(&[w(3000)], 1), 30);
        assert_eq!(lease_size(&[w(3000)], 0), 30, "at least one node");
        assert_eq!(lease_size(&[w(100_000), w(5000)], 2), 25, "smallest limit");
        assert_eq!(lease_size(&[], 1), 0);
        for (limit, nodes) in [(3000, 3), (1_000_000, 7), (999, 1), (12_345, 4)] {
            let size = lease_size(&[w(limit)], nodes);
            // At most size - 1 unspent per node (the taking request spends one).
            let unspent = (size.saturating_sub(1)) * nodes as u64;
            assert!(unspent * 100 < limit, "{limit} {nodes}");
        }
    }

    #[test]
    fn a_cost_at_or_above_the_lease_size_asks_for_the_cost_alone() {
        assert_eq!(units_wanted(&[w(3000)], 3, 1), 10);
        assert_eq!(units_wanted(&[w(3000)], 3, 10), 10);
        assert_eq!(units_wanted(&[w(3000)], 3, 25), 25);
        assert_eq!(units_wanted(&[w(100)], 3, 1), 1);
    }
}
