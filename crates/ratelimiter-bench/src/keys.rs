//! Key generation with a tiny per-worker PRNG (xorshift64*; no shared state on the hot path).

use crate::config::KeyPattern;

/// Generates the keys of one worker.
#[derive(Debug)]
pub(crate) struct KeyGen {
    pattern: KeyPattern,
    state: u64,
}

impl KeyGen {
    pub(crate) fn new(pattern: KeyPattern, seed: u64) -> Self {
        Self {
            pattern,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The next key, written into `out`; returns its number, unique among the pattern's keys
    /// (for per-key tallies without hashing the text).
    pub(crate) fn next_key(&mut self, out: &mut String) -> u64 {
        use std::fmt::Write as _;
        out.clear();
        let (r1, r2) = (self.next_u64(), self.next_u64());
        let roll = (r1 >> 11) as f64 / (1u64 << 53) as f64;
        match &self.pattern {
            KeyPattern::Hot(k) => {
                out.push_str(k);
                0
            }
            KeyPattern::Many { prefix, count } => {
                let i = r1 % *count;
                let _ = write!(out, "{prefix}{i}");
                i
            }
            KeyPattern::Mixed {
                hot,
                hot_fraction,
                tail,
            } => {
                if roll < *hot_fraction {
                    out.push_str(hot);
                    0
                } else {
                    let i = r2 % *tail;
                    let _ = write!(out, "{hot}-tail-{i}");
                    1 + i
                }
            }
            KeyPattern::Skewed {
                prefix,
                top,
                top_fraction,
                tail,
            } => {
                if roll < *top_fraction {
                    let i = r2 % *top;
                    let _ = write!(out, "{prefix}top-{i}");
                    i
                } else {
                    let i = r2 % *tail;
                    let _ = write!(out, "{prefix}tail-{i}");
                    *top + i
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_produce_the_expected_keys() {
        let mut k = String::new();
        let mut hot = KeyGen::new(KeyPattern::Hot("h".into()), 1);
        hot.next_key(&mut k);
        assert_eq!(k, "h");
        let mut many = KeyGen::new(
            KeyPattern::Many {
                prefix: "u:".into(),
                count: 10,
            },
            2,
        );
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            many.next_key(&mut k);
            seen.insert(k.clone());
        }
        assert_eq!(seen.len(), 10);
        let mut mixed = KeyGen::new(
            KeyPattern::Mixed {
                hot: "h".into(),
                hot_fraction: 0.8,
                tail: 100,
            },
            3,
        );
        let hot_count = (0..10_000)
            .filter(|_| {
                mixed.next_key(&mut k);
                k == "h"
            })
            .count();
        assert!((7_500..8_500).contains(&hot_count), "{hot_count}");
    }

    #[test]
    fn seed_002_puts_four_fifths_on_the_top_thousand() {
        let mut k = String::new();
        let mut g = KeyGen::new(KeyPattern::seed_002(), 7);
        let (mut top, mut top_ids, mut tail_ids) = (0, std::collections::HashSet::new(), 0);
        for _ in 0..100_000 {
            let id = g.next_key(&mut k);
            if k.contains(":top-") {
                top += 1;
                top_ids.insert(id);
                assert!(id < 1_000, "{k} {id}");
            } else {
                assert!(
                    k.contains(":tail-") && (1_000..101_000).contains(&id),
                    "{k}"
                );
                tail_ids += 1;
            }
        }
        assert!((79_000..81_000).contains(&top), "{top}");
        assert_eq!(top_ids.len(), 1_000);
        assert_eq!(top + tail_ids, 100_000);
    }
}
