//! [`Distribution`]: the median, 90th percentile and maximum of a set of durations, as the eval
//! reports MTTD and MTTR.

use serde::Serialize;

/// Median, p90 and maximum of some durations in ms (nearest rank: each is one of the values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Distribution {
    /// The median (for an even count, the lower of the two middle values).
    pub median: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The largest.
    pub max: u64,
}

impl Distribution {
    /// The distribution of `values`; `None` when there are none.
    pub fn of(values: &[u64]) -> Option<Self> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let max = *v.last()?;
        Some(Self {
            median: rank(&v, 50),
            p90: rank(&v, 90),
            max,
        })
    }
}

/// The nearest-rank `pct`th percentile of sorted, non-empty `v`: the smallest value with at
/// least `pct`% of the values at or below it.
fn rank(v: &[u64], pct: usize) -> u64 {
    let n = v.len();
    let r = (pct * n).div_ceil(100).clamp(1, n);
    v[r - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_values() {
        assert_eq!(Distribution::of(&[]), None);
        let one = Distribution::of(&[420]).unwrap();
        assert_eq!((one.median, one.p90, one.max), (420, 420, 420));
        let two = Distribution::of(&[900, 100]).unwrap();
        assert_eq!((two.median, two.p90, two.max), (100, 900, 900));
        // 1..=10 shuffled: the median is the 5th value, p90 the 9th.
        let ten = Distribution::of(&[7, 3, 10, 1, 9, 2, 8, 5, 4, 6]).unwrap();
        assert_eq!((ten.median, ten.p90, ten.max), (5, 9, 10));
        // 20 trials: p90 is the 18th value, so two slow outliers do not move it.
        let mut twenty: Vec<u64> = (1..=18).map(|i| 500 + i).collect();
        twenty.extend([9_000, 12_000]);
        let d = Distribution::of(&twenty).unwrap();
        assert_eq!((d.median, d.p90, d.max), (510, 518, 12_000));
    }
}
