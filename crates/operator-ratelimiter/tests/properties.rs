//! Property tests of the operator's parsers of what Redis and the nodes answer: Redis `INFO`
//! text and Prometheus histograms from a node's `/metrics`. Arbitrary text never panics them;
//! generated well-formed text parses back to what generated it; quantiles stay in range.

use proptest::prelude::*;

use operator_ratelimiter::histogram::Histogram;
use operator_ratelimiter::info::RedisInfo;

const METRIC: &str = "ratelimiter_decision_duration_seconds";

/// A value `INFO` could print: visible ASCII, no trailing blank.
fn word() -> impl Strategy<Value = String> {
    "[!-~]{0,24}"
}

/// Fields of a generated `INFO`, each present or not.
#[derive(Debug, Clone)]
struct InfoFields {
    text: Vec<(&'static str, Option<String>)>,
    numbers: Vec<(&'static str, Option<u64>)>,
    flags: Vec<(&'static str, Option<bool>)>,
}

fn info_fields() -> impl Strategy<Value = InfoFields> {
    let text = ["redis_version", "run_id", "role", "maxmemory_policy"];
    let numbers = [
        "uptime_in_seconds",
        "used_memory",
        "maxmemory",
        "evicted_keys",
        "expired_keys",
        "connected_clients",
        "rdb_last_load_keys_loaded",
        "number_of_cached_scripts",
    ];
    let flags = ["aof_enabled", "loading", "rdb_last_bgsave_status"];
    (
        prop::collection::vec(prop::option::of(word()), text.len()),
        prop::collection::vec(prop::option::of(any::<u64>()), numbers.len()),
        prop::collection::vec(prop::option::of(any::<bool>()), flags.len()),
    )
        .prop_map(move |(t, n, f)| InfoFields {
            text: text.into_iter().zip(t).collect(),
            numbers: numbers.into_iter().zip(n).collect(),
            flags: flags.into_iter().zip(f).collect(),
        })
}

impl InfoFields {
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.text {
            if let Some(v) = v {
                out.push(format!("{k}:{v}"));
            }
        }
        for (k, v) in &self.numbers {
            if let Some(v) = v {
                out.push(format!("{k}:{v}"));
            }
        }
        for (k, v) in &self.flags {
            if let Some(v) = v {
                let text = match (*k, v) {
                    ("rdb_last_bgsave_status", true) => "ok",
                    ("rdb_last_bgsave_status", false) => "err",
                    (_, true) => "1",
                    (_, false) => "0",
                };
                out.push(format!("{k}:{text}"));
            }
        }
        out
    }

    fn expected(&self) -> RedisInfo {
        let text = |k: &str| {
            self.text
                .iter()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let num = |k: &str| {
            self.numbers
                .iter()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| *v)
                .unwrap_or(0)
        };
        let flag = |k: &str, default| {
            self.flags
                .iter()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| *v)
                .unwrap_or(default)
        };
        RedisInfo {
            version: text("redis_version"),
            run_id: text("run_id"),
            uptime_s: num("uptime_in_seconds"),
            role: text("role"),
            used_memory: num("used_memory"),
            maxmemory: num("maxmemory"),
            maxmemory_policy: text("maxmemory_policy"),
            evicted_keys: num("evicted_keys"),
            expired_keys: num("expired_keys"),
            connected_clients: num("connected_clients"),
            aof_enabled: flag("aof_enabled", false),
            rdb_last_save_ok: flag("rdb_last_bgsave_status", true),
            loading: flag("loading", false),
            keys_loaded_at_start: num("rdb_last_load_keys_loaded"),
            cached_scripts: num("number_of_cached_scripts"),
        }
    }
}

/// Lines `INFO` prints that the parser does not read: sections, blanks, other fields.
fn noise() -> impl Strategy<Value = Vec<String>> {
    let line = prop_oneof![
        "# [A-Z][a-z]{2,12}",
        Just(String::new()),
        "x_[a-z_]{1,20}:[!-~]{0,20}",
        "db[0-9]:keys=[0-9]{1,5},expires=[0-9]{1,5},avg_ttl=[0-9]{1,5}",
    ];
    prop::collection::vec(line, 0..12)
}

/// A cumulative histogram: ascending finite bounds, non-decreasing counts, then `+Inf`.
fn histogram() -> impl Strategy<Value = Histogram> {
    prop::collection::btree_set(1u64..10_000_000, 0..12)
        .prop_flat_map(|bounds| {
            let n = bounds.len();
            (Just(bounds), prop::collection::vec(0u64..1_000_000, n + 1))
        })
        .prop_map(|(bounds, increments)| {
            let mut total = 0;
            Histogram {
                // Microsecond bounds in seconds, as `{}` prints and parses them back exactly.
                bounds: bounds.into_iter().map(|b| b as f64 / 1e6).collect(),
                counts: increments
                    .into_iter()
                    .map(|i| {
                        total += i;
                        total
                    })
                    .collect(),
            }
        })
}

/// The `/metrics` lines of `h`, labels in either order, counts as integers or floats.
fn render(h: &Histogram, le_first: bool, float_counts: bool) -> Vec<String> {
    let les = h
        .bounds
        .iter()
        .map(|b| b.to_string())
        .chain(std::iter::once("+Inf".to_owned()));
    les.zip(&h.counts)
        .map(|(le, count)| {
            let labels = if le_first {
                format!("le=\"{le}\",node=\"n1\"")
            } else {
                format!("node=\"n1\", le=\"{le}\"")
            };
            let value = if float_counts {
                format!("{count}.0")
            } else {
                count.to_string()
            };
            format!("{METRIC}_bucket{{{labels}}} {value}")
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn info_parses_back_what_generated_it(
        (fields, lines) in (info_fields(), noise()).prop_flat_map(|(fields, noise)| {
            let lines: Vec<String> = fields.lines().into_iter().chain(noise).collect();
            (Just(fields), Just(lines).prop_shuffle())
        }),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        prop_assert_eq!(RedisInfo::parse(&text), fields.expected(), "{:?}", text);
    }

    #[test]
    fn info_never_panics_on_arbitrary_text(text in any::<String>(), lines in prop::collection::vec("[a-z_]{1,30}:.{0,30}", 0..20)) {
        let _ = RedisInfo::parse(&text);
        let info = RedisInfo::parse(&lines.join("\r\n"));
        if let Some(ratio) = info.memory_ratio() {
            prop_assert!(ratio >= 0.0 && info.maxmemory > 0);
        }
    }

    #[test]
    fn histograms_parse_back_what_generated_them(
        h in histogram(),
        le_first in any::<bool>(),
        float_counts in any::<bool>(),
        other in prop::collection::vec("[a-z_]{1,40}(\\{[a-z]+=\"[a-z0-9]*\"\\})? [0-9]{1,6}", 0..8),
        seed in any::<u64>(),
    ) {
        let mut lines = render(&h, le_first, float_counts);
        lines.push(format!("{METRIC}_sum{{node=\"n1\"}} 0.5"));
        lines.push(format!("{METRIC}_count{{node=\"n1\"}} {}", h.count()));
        lines.push(format!("# TYPE {METRIC} histogram"));
        lines.extend(other);
        // Order does not matter to the parser: rotate by the seed.
        let n = lines.len();
        lines.rotate_left(usize::try_from(seed % n as u64).unwrap());
        let parsed = Histogram::parse(&lines.join("\n"), METRIC);
        prop_assert_eq!(parsed.as_ref(), Some(&h));
        prop_assert_eq!(Histogram::parse(&lines.join("\n"), "other_metric"), None);
    }

    #[test]
    fn histograms_never_panic_on_arbitrary_text(
        text in any::<String>(),
        lines in prop::collection::vec(
            "ratelimiter_decision_duration_seconds_bucket\\{.{0,20}le=\"?.{0,12}\"?.{0,5}\\}.{0,12}",
            0..10,
        ),
        q in any::<f64>(),
    ) {
        prop_assert!(Histogram::parse(&text, METRIC).is_none() || text.contains(METRIC));
        if let Some(h) = Histogram::parse(&lines.join("\n"), METRIC) {
            prop_assert_eq!(h.counts.len(), h.bounds.len() + 1);
            let _ = h.quantile(q);
            let _ = h.since(&h);
        }
    }

    #[test]
    fn quantiles_stay_within_the_bounds_and_grow_with_q(h in histogram(), a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        match (h.quantile(lo), h.quantile(hi)) {
            (None, None) => prop_assert_eq!(h.count(), 0),
            (Some(x), Some(y)) => {
                let top = h.bounds.last().copied().unwrap_or(0.0);
                prop_assert!((0.0..=top).contains(&x) && (0.0..=top).contains(&y), "{} {} in 0..={}", x, y, top);
                prop_assert!(x <= y + 1e-12, "q {} -> {}, q {} -> {}", lo, x, hi, y);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn the_change_between_readings_is_what_was_added(
        (before, added) in histogram().prop_flat_map(|h| {
            let n = h.counts.len();
            (Just(h), prop::collection::vec(0u64..1000, n))
        }),
    ) {
        let mut total = 0;
        let cumulative: Vec<u64> = added.iter().map(|a| { total += a; total }).collect();
        let after = Histogram {
            bounds: before.bounds.clone(),
            counts: before.counts.iter().zip(&cumulative).map(|(c, a)| c + a).collect(),
        };
        let change = after.since(&before).unwrap();
        prop_assert_eq!(&change.counts, &cumulative);
        prop_assert_eq!(change.count(), total);
        if total > 0 {
            prop_assert!(before.since(&after).is_none(), "counts going down is a restart");
        }
        let other_bounds = Histogram { bounds: vec![42.0], counts: vec![0, 0] };
        prop_assert!(after.since(&other_bounds).is_none() || before.bounds == [42.0]);
    }
}
