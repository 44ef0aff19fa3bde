//! Prometheus histograms: reading one from `/metrics` text, and quantiles of the change between
//! two readings (what `histogram_quantile(0.99, rate(..[interval]))` computes).

use serde::{Deserialize, Serialize};

/// A cumulative histogram. `counts[i]` observations were `≤ bounds[i]` seconds; the last count,
/// one past the bounds, is the `+Inf` bucket (every observation). Kept finite so it serializes
/// as plain JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Histogram {
    /// Finite upper bounds, ascending, in seconds.
    pub bounds: Vec<f64>,
    /// Cumulative counts: one per bound, then the `+Inf` total.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Reads the `<name>_bucket{...,le="..."} count` lines of `name` from Prometheus text.
    /// Returns `None` when there are none or they lack a `+Inf` bucket.
    pub fn parse(text: &str, name: &str) -> Option<Self> {
        let prefix = format!("{name}_bucket{{");
        let mut buckets: Vec<(f64, u64)> = text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| {
                let (labels, value) = l[prefix.len()..].rsplit_once('}')?;
                let le = labels
                    .split(',')
                    .find_map(|kv| kv.trim().strip_prefix("le="))?
                    .trim_matches('"');
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                let count = value.trim().parse::<f64>().ok()?;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                // counts are integers
                Some((le, count as u64))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (inf, finite) = buckets.split_last()?;
        if !inf.0.is_infinite() {
            return None;
        }
        Some(Self {
            bounds: finite.iter().map(|b| b.0).collect(),
            counts: buckets.iter().map(|b| b.1).collect(),
        })
    }

    /// Total observations.
    pub fn count(&self) -> u64 {
        self.counts.last().copied().unwrap_or(0)
    }

    /// Observations since `earlier`, or `None` when `earlier` is not an earlier reading of the
    /// same histogram (different buckets, or counts went down: the node restarted).
    pub fn since(&self, earlier: &Histogram) -> Option<Histogram> {
        if self.bounds != earlier.bounds || self.counts.len() != earlier.counts.len() {
            return None;
        }
        let counts = self
            .counts
            .iter()
            .zip(&earlier.counts)
            .map(|(now, before)| now.checked_sub(*before))
            .collect::<Option<Vec<u64>>>()?;
        Some(Histogram {
            bounds: self.bounds.clone(),
            counts,
        })
    }

    /// The `q` quantile in seconds, interpolating linearly inside the bucket as Prometheus does;
    /// `None` without observations. A quantile in the `+Inf` bucket is the highest finite bound.
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let (mut lower_bound, mut lower_count) = (0.0, 0u64);
        for (&le, &count) in self.bounds.iter().zip(&self.counts) {
            if count as f64 >= rank {
                let in_bucket = (count - lower_count) as f64;
                let frac = if in_bucket > 0.0 {
                    (rank - lower_count as f64) / in_bucket
                } else {
                    1.0
                };
                return Some(lower_bound + (le - lower_bound) * frac);
            }
            lower_bound = le;
            lower_count = count;
        }
        Some(lower_bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE ratelimiter_decision_duration_seconds histogram
ratelimiter_decision_duration_seconds_bucket{node="n1",le="0.001"} 90
ratelimiter_decision_duration_seconds_bucket{node="n1",le="0.01"} 99
ratelimiter_decision_duration_seconds_bucket{node="n1",le="0.1"} 100
ratelimiter_decision_duration_seconds_bucket{node="n1",le="+Inf"} 100
ratelimiter_decision_duration_seconds_sum{node="n1"} 0.2
ratelimiter_decisions_total{node="n1",result="allowed"} 100
"#;

    #[test]
    fn parses_buckets_and_interpolates_quantiles() {
        let h = Histogram::parse(TEXT, "ratelimiter_decision_duration_seconds").unwrap();
        assert_eq!(h.bounds, [0.001, 0.01, 0.1]);
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).unwrap();
        assert!((p50 - 0.000_555).abs() < 1e-6, "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((p99 - 0.01).abs() < 1e-9, "{p99}");
        assert!(Histogram::parse(TEXT, "missing").is_none());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(
            serde_json::from_str::<Histogram>(&json).unwrap(),
            h,
            "round-trips through JSON"
        );
    }

    #[test]
    fn difference_between_readings_and_restarts() {
        let before = Histogram {
            bounds: vec![0.001, 0.1],
            counts: vec![10, 10, 10],
        };
        let after = Histogram {
            bounds: vec![0.001, 0.1],
            counts: vec![10, 60, 60],
        };
        let d = after.since(&before).unwrap();
        assert_eq!(d.count(), 50);
        assert!(
            d.quantile(0.99).unwrap() > 0.09,
            "the recent observations are all slow"
        );
        assert!(
            before.since(&after).is_none(),
            "counts going down means a restart"
        );
        assert_eq!(Histogram::default().quantile(0.99), None);
    }

    #[test]
    fn quantile_in_the_infinite_bucket_is_the_highest_bound() {
        let h = Histogram {
            bounds: vec![0.1],
            counts: vec![0, 5],
        };
        assert_eq!(h.quantile(0.99), Some(0.1));
    }
}
