//! Tests of the key schema: round trips, hash tags, and what never parses as a counter.

use super::*;

const NASTY: &[&str] = &[
    "user:42",
    "a",
    "{",
    "}",
    "{}",
    "}{",
    "{tag}:x",
    "%",
    "%7B",
    "100%}",
    "a:b:c:default:1000",
    "c:{x}:p:1",
    "line\nbreak\ttab\r\0nul",
    "ünïcødé 🚦 key",
    "*?[]\\^",
    "   spaces   ",
];

#[test]
fn abuse_and_probe_keys_share_a_tag_and_never_parse_as_counters() {
    let b = abuse_block_key("ratelimit:", "ip:fp-00");
    let k = abuse_keys_key("ratelimit:", "ip:fp-00", 29_000_000);
    assert_eq!(b, "ratelimit:abuse:b:{ip:fp-00}");
    assert_eq!(k, "ratelimit:abuse:k:{ip:fp-00}:29000000");
    let p = probe_key("ratelimit:", "node}1");
    assert_eq!(p, "ratelimit:probe:{node%7D1}");
    for name in [b, k, p] {
        assert!(parse_counter_key("ratelimit:", &name).is_none(), "{name}");
    }
}

#[test]
fn counter_keys_round_trip_for_nasty_user_keys() {
    for key in NASTY {
        let name = counter_key("ratelimit:", key, "login-2", 3_600_000);
        let parsed = parse_counter_key("ratelimit:", &name)
            .unwrap_or_else(|| panic!("{name:?} does not parse"));
        assert_eq!(
            parsed,
            CounterKey {
                user_key: (*key).to_owned(),
                policy: "login-2".into(),
                window_ms: 3_600_000
            }
        );
    }
}

#[test]
fn all_keys_of_one_decision_share_one_hash_tag() {
    for key in NASTY {
        let a = counter_key("rl:", key, "p", 1000);
        let b = counter_key("rl:", key, "p", 3_600_000);
        assert_eq!(hash_tag(&a), hash_tag(&b), "{key:?}");
        assert_eq!(hash_tag(&a), Some(encode_user_key(key).as_str()));
    }
}

#[test]
fn shared_keys_live_in_one_slot_and_probe_salts_move_the_slot() {
    use crate::cluster::key_slot;
    for prefix in ["ratelimit:", "other:"] {
        let (p, n) = (policies_key(prefix), nodes_key(prefix));
        assert_eq!(hash_tag(&p), Some("shared"));
        assert_eq!(key_slot(p.as_bytes()), key_slot(n.as_bytes()));
        assert_ne!(p, legacy_policies_key(prefix));
        assert!(p.starts_with(prefix), "still under the prefix");
    }
    assert_eq!(policies_key("ratelimit:"), "ratelimit:{shared}:policies");
    let slots: std::collections::HashSet<u16> = (0..64)
        .map(|salt| key_slot(probe_key_salted("rl:", "n1", salt).as_bytes()))
        .collect();
    assert!(slots.len() > 32, "salts spread the probe over slots");
    assert!(parse_counter_key("rl:", &probe_key_salted("rl:", "n1", 7)).is_none());
}

/// Redis Cluster's rule: the text between the first `{` and the next `}`, if not empty.
fn hash_tag(name: &str) -> Option<&str> {
    let open = name.find('{')?;
    let close = name[open + 1..].find('}')? + open + 1;
    (close > open + 1).then(|| &name[open + 1..close])
}

#[test]
fn readable_keys_stay_readable() {
    assert_eq!(
        counter_key("ratelimit:", "user:42", "default", 1000),
        "ratelimit:c:{user:42}:default:1000"
    );
    assert_eq!(encode_user_key("{a}%"), "%7Ba%7D%25");
}

#[test]
fn other_keys_do_not_parse_as_counters() {
    for name in [
        "ratelimit:{shared}:policies",
        "ratelimit:{shared}:nodes",
        "ratelimit:policies",
        "other:c:{x}:p:1",
        "ratelimit:c:{x}:p:",
        "ratelimit:c:{x}:p:1x",
        "ratelimit:c:{x}:bad name:1",
        "ratelimit:c:{x}p:1",
        "ratelimit:c:{%zz}:p:1",
        "ratelimit:c:{%7}:p:1",
    ] {
        assert!(parse_counter_key("ratelimit:", name).is_none(), "{name}");
    }
}

#[test]
fn prefix_and_user_key_validation() {
    assert!(validate_prefix("ratelimit:").is_ok());
    for bad in ["", "a{", "a}", "a*", "a b", "a\\"] {
        assert!(validate_prefix(bad).is_err(), "{bad:?}");
    }
    assert_eq!(validate_user_key(""), Err(KeyError::Empty));
    assert!(validate_user_key(&"k".repeat(512)).is_ok());
    assert_eq!(
        validate_user_key(&"k".repeat(513)),
        Err(KeyError::TooLong { max: 512, got: 513 })
    );
}

#[test]
fn scan_patterns_escape_glob_characters() {
    assert_eq!(
        counter_scan_pattern("ratelimit:", "user:*"),
        "ratelimit:c:{user:\\**"
    );
    assert_eq!(
        counter_scan_pattern_exact("ratelimit:", "a{b"),
        "ratelimit:c:{a%7Bb}:*"
    );
    assert_eq!(counter_scan_pattern("ratelimit:", ""), "ratelimit:c:{*");
}

#[test]
fn gcra_buckets_round_trip_and_never_parse_as_counters() {
    for key in NASTY {
        let name = gcra_key("ratelimit:", key, "api-2");
        assert!(name.ends_with(":api-2:gcra"), "{name}");
        assert_eq!(
            parse_gcra_key("ratelimit:", &name),
            Some(GcraKey {
                user_key: (*key).to_owned(),
                policy: "api-2".into(),
            })
        );
        assert!(parse_counter_key("ratelimit:", &name).is_none(), "{name}");
        let counter = counter_key("ratelimit:", key, "api-2", 1000);
        assert!(
            parse_gcra_key("ratelimit:", &counter).is_none(),
            "{counter}"
        );
        assert_eq!(
            hash_tag(&name),
            hash_tag(&counter),
            "same slot as its counters"
        );
    }
    assert_eq!(gcra_field(600_000), "600000");
}

#[test]
fn a_reset_names_the_bucket_of_a_gcra_policy_and_the_counters_of_the_others() {
    let gcra = Policy::new(
        "api",
        crate::PolicySpec {
            pattern: Some("api:*".into()),
            algorithm: Algorithm::Gcra,
            windows: vec![
                crate::Window::new(10, 1000),
                crate::Window::new(100, 60_000),
            ],
        },
    )
    .unwrap();
    let sliding = crate::PolicySet::builtin();
    let names = counter_keys_of("rl:", "api:1", sliding.sorted().into_iter().chain([&gcra]));
    assert_eq!(
        names,
        vec!["rl:c:{api:1}:default:1000", "rl:c:{api:1}:api:gcra"]
    );
}
