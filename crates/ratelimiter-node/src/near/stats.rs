//! The near cache's counters and gauges, their `/v1/node` form ([`NearInfo`]) and their
//! Prometheus rendering.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters (only increase) and gauges of one near cache.
#[derive(Debug, Default)]
pub struct NearStats {
    /// Decisions denied from a cached denial.
    pub denied: AtomicU64,
    /// Decisions admitted from a lease.
    pub leased: AtomicU64,
    /// Leases taken.
    pub taken: AtomicU64,
    /// Leases given back (on shutdown).
    pub returned: AtomicU64,
    /// Entries evicted to stay under the byte bound.
    pub evictions: AtomicU64,
    /// Gauge: entries held.
    pub entries: AtomicU64,
    /// Gauge: estimated bytes held.
    pub bytes: AtomicU64,
    /// Gauge: units leased (counted in Redis) and not spent yet.
    pub unspent: AtomicU64,
}

/// Decisions served from the cache, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NearDecisions {
    /// From cached denials.
    pub denied: u64,
    /// From leases.
    pub leased: u64,
}

/// Leases by event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NearLeases {
    /// Taken.
    pub taken: u64,
    /// Given back.
    pub returned: u64,
}

/// The `near_cache` object of `/v1/node`: the same figures as the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NearInfo {
    /// Whether the node runs with `--near-cache`.
    pub enabled: bool,
    /// `--near-cache-max-bytes`.
    pub max_bytes: u64,
    /// Decisions served from the cache.
    pub decisions: NearDecisions,
    /// Leases taken and returned.
    pub leases: NearLeases,
    /// Units leased and not spent yet.
    pub unspent_leased: u64,
    /// Entries held.
    pub entries: u64,
    /// Estimated bytes held.
    pub bytes: u64,
    /// Entries evicted.
    pub evictions: u64,
}

impl NearStats {
    /// Their `/v1/node` form.
    pub fn info(&self, enabled: bool, max_bytes: u64) -> NearInfo {
        let get = |a: &AtomicU64| a.load(Relaxed);
        NearInfo {
            enabled,
            max_bytes,
            decisions: NearDecisions {
                denied: get(&self.denied),
                leased: get(&self.leased),
            },
            leases: NearLeases {
                taken: get(&self.taken),
                returned: get(&self.returned),
            },
            unspent_leased: get(&self.unspent),
            entries: get(&self.entries),
            bytes: get(&self.bytes),
            evictions: get(&self.evictions),
        }
    }
}

impl NearInfo {
    /// Appends the Prometheus text of these figures to `out`, labelled with `node` (already
    /// escaped).
    pub fn render(&self, out: &mut String, node: &str) {
        let mut family = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let sep = if labels.is_empty() { "" } else { "," };
                let _ = writeln!(out, "{name}{{node=\"{node}\"{sep}{labels}}} {v}");
            }
        };
        family(
            "ratelimiter_near_cache_decisions_total",
            "counter",
            "Decisions taken by the near cache without Redis, by kind.",
            &[
                ("kind=\"denied\"", self.decisions.denied),
                ("kind=\"leased\"", self.decisions.leased),
            ],
        );
        family(
            "ratelimiter_near_cache_leases_total",
            "counter",
            "Leases of quota taken from Redis and given back to it, by event.",
            &[
                ("event=\"taken\"", self.leases.taken),
                ("event=\"returned\"", self.leases.returned),
            ],
        );
        family(
            "ratelimiter_near_cache_unspent_leased",
            "gauge",
            "Quota counted in Redis for this node's leases and not spent yet.",
            &[("", self.unspent_leased)],
        );
        family(
            "ratelimiter_near_cache_entries",
            "gauge",
            "Keys held by the near cache.",
            &[("", self.entries)],
        );
        family(
            "ratelimiter_near_cache_bytes",
            "gauge",
            "Estimated bytes held by the near cache (bounded by --near-cache-max-bytes).",
            &[("", self.bytes)],
        );
        family(
            "ratelimiter_near_cache_evictions_total",
            "counter",
            "Near cache entries evicted to stay under --near-cache-max-bytes.",
            &[("", self.evictions)],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_labels() {
        let stats = NearStats::default();
        stats.denied.store(3, Relaxed);
        stats.unspent.store(9, Relaxed);
        let info = stats.info(true, 1024);
        assert_eq!(info.decisions.denied, 3);
        let mut out = String::new();
        info.render(&mut out, "a");
        for line in [
            "ratelimiter_near_cache_decisions_total{node=\"a\",kind=\"denied\"} 3",
            "ratelimiter_near_cache_decisions_total{node=\"a\",kind=\"leased\"} 0",
            "ratelimiter_near_cache_leases_total{node=\"a\",event=\"taken\"} 0",
            "ratelimiter_near_cache_leases_total{node=\"a\",event=\"returned\"} 0",
            "ratelimiter_near_cache_unspent_leased{node=\"a\"} 9",
            "ratelimiter_near_cache_entries{node=\"a\"} 0",
            "ratelimiter_near_cache_bytes{node=\"a\"} 0",
            "ratelimiter_near_cache_evictions_total{node=\"a\"} 0",
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }
}
