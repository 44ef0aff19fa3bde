//! Metrics in the style of envoyproxy/ratelimit, per domain and descriptor, beside the node's
//! own: `ratelimiter_rls_total_hits`, `_over_limit`, `_near_limit`, `_within_limit` and
//! `_shadow_mode` (counters of hits, i.e. of cost), labelled `domain` and `descriptor` (the
//! descriptor's path as the configuration writes it, `key_value.key`; with `detailed_metric`,
//! the request's values as one fingerprint, never in clear).
//!
//! A hit over its limit counts in `over_limit`, and also in `shadow_mode` when the descriptor is
//! in shadow mode (it was allowed); a hit within its limit counts in `within_limit`, and also in
//! `near_limit` when it left at most 20 % of the limit. Only descriptors that matched a limit are
//! counted. At most [`MAX_SERIES`] label sets are kept: past that, new ones are counted under
//! `descriptor="_overflow_"` of their domain, so a flood of detailed values cannot blow up
//! `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Most (domain, descriptor) label sets kept.
pub const MAX_SERIES: usize = 1_000;
/// The `descriptor` label of the series past [`MAX_SERIES`].
pub const OVERFLOW_LABEL: &str = "_overflow_";

/// How one descriptor's hits went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    /// Within the limit, more than 20 % left.
    Within,
    /// Within the limit, at most 20 % left.
    Near,
    /// Over the limit, denied.
    Over,
    /// Over the limit, allowed because of shadow mode.
    Shadow,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    total_hits: u64,
    over_limit: u64,
    near_limit: u64,
    within_limit: u64,
    shadow_mode: u64,
}

/// The counters, keyed by (domain, descriptor).
#[derive(Debug, Default)]
pub struct RlsMetrics {
    series: Mutex<HashMap<(String, String), Counts>>,
}

impl RlsMetrics {
    /// Counts `hits` of `descriptor` in `domain`.
    pub fn record(&self, domain: &str, descriptor: &str, hits: u64, kind: HitKind) {
        // A poisoned lock only means a panic mid-update of plain integers: keep counting.
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = (domain.to_owned(), descriptor.to_owned());
        if !series.contains_key(&key) && series.len() >= MAX_SERIES {
            key.1 = OVERFLOW_LABEL.to_owned();
        }
        let c = series.entry(key).or_default();
        c.total_hits += hits;
        match kind {
            HitKind::Within => c.within_limit += hits,
            HitKind::Near => {
                c.within_limit += hits;
                c.near_limit += hits;
            }
            HitKind::Over => c.over_limit += hits,
            HitKind::Shadow => {
                c.over_limit += hits;
                c.shadow_mode += hits;
            }
        }
    }

    /// Appends the Prometheus text of every series (`node` already escaped).
    pub fn render(&self, out: &mut String, node: &str) {
        let series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut rows: Vec<(&(String, String), &Counts)> = series.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let metrics: [(&str, &str, fn(&Counts) -> u64); 5] = [
            ("total_hits", "Hits (cost) of descriptors that matched a limit.", |c| c.total_hits),
            ("over_limit", "Hits over their limit (shadow mode included).", |c| c.over_limit),
            ("near_limit", "Hits within their limit that left at most 20 % of it.", |c| c.near_limit),
            ("within_limit", "Hits within their limit.", |c| c.within_limit),
            ("shadow_mode", "Hits over their limit allowed by shadow mode.", |c| c.shadow_mode),
        ];
        for (name, help, get) in metrics {
            let name = format!("ratelimiter_rls_{name}");
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((domain, descriptor), c) in &rows {
                let _ = writeln!(
                    out,
                    "{name}{{node=\"{node}\",domain=\"{}\",descriptor=\"{}\"}} {}",
                    escape(domain),
                    escape(descriptor),
                    get(c)
                );
            }
        }
    }
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_counted_by_kind_and_series_are_capped() {
        let m = RlsMetrics::default();
        m.record("d", "k", 2, HitKind::Within);
        m.record("d", "k", 1, HitKind::Near);
        m.record("d", "k", 3, HitKind::Over);
        m.record("d", "k", 4, HitKind::Shadow);
        let mut out = String::new();
        m.render(&mut out, "n");
        for line in [
            "ratelimiter_rls_total_hits{node=\"n\",domain=\"d\",descriptor=\"k\"} 10",
            "ratelimiter_rls_within_limit{node=\"n\",domain=\"d\",descriptor=\"k\"} 3",
            "ratelimiter_rls_near_limit{node=\"n\",domain=\"d\",descriptor=\"k\"} 1",
            "ratelimiter_rls_over_limit{node=\"n\",domain=\"d\",descriptor=\"k\"} 7",
            "ratelimiter_rls_shadow_mode{node=\"n\",domain=\"d\",descriptor=\"k\"} 4",
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
        for i in 0..MAX_SERIES + 10 {
            m.record("d", &format!("v{i}"), 1, HitKind::Within);
        }
        let mut out = String::new();
        m.render(&mut out, "n");
        let totals = out
            .lines()
            .filter(|l| l.starts_with("ratelimiter_rls_total_hits{"))
            .count();
        assert_eq!(totals, MAX_SERIES + 1);
        assert!(out.contains("descriptor=\"_overflow_\"} 11"), "{out}");
    }
}
