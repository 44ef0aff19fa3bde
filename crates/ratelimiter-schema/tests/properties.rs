//! Property tests of the schema contract: policies as JSON (round-trip, digest stable under field
//! and load order, arbitrary text refused with a typed error), glob selection against a reference
//! matcher, the counter key schema (round-trip for any user key), keyed fingerprints, and the
//! wire bodies.

use std::collections::BTreeMap;

use proptest::prelude::*;
use ratelimiter_schema::fingerprint::{fingerprint, is_fingerprint};
use ratelimiter_schema::keys::{
    counter_key, decode_user_key, encode_user_key, parse_counter_key, validate_prefix,
};
use ratelimiter_schema::policy::{DEFAULT_POLICY, MAX_LIMIT, MAX_WINDOW_MS, MAX_WINDOWS};
use ratelimiter_schema::{
    CheckRequest, ErrorBody, ErrorCode, NodeInfo, Policy, PolicyError, PolicySet, PolicySpec,
    Window, fingerprint_identifier, secret_digest,
};
use strum::VariantArray as _;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

/// A valid policy name.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}".prop_filter("not the default", |n| n != DEFAULT_POLICY)
}

/// 1 to `MAX_WINDOWS` windows with distinct lengths and valid limits.
fn windows() -> impl Strategy<Value = Vec<Window>> {
    prop::collection::btree_map(1..=MAX_WINDOW_MS, 1..=MAX_LIMIT, 1..=MAX_WINDOWS).prop_map(|m| {
        m.into_iter()
            .map(|(window_ms, limit)| Window::new(limit, window_ms))
            .collect()
    })
}

/// A valid pattern: any text of 1 to 256 bytes (globs are data; nothing is refused but length).
fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z:*?\\\\]{1,40}",
        any::<String>().prop_filter("1 to 256 bytes", |s| !s.is_empty() && s.len() <= 256),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (name(), pattern(), windows()).prop_map(|(name, pattern, windows)| {
        Policy::new(
            &name,
            PolicySpec {
                algorithm: Default::default(),
                pattern: Some(pattern),
                windows,
            },
        )
        .expect("generated policies are valid")
    })
}

fn policies() -> impl Strategy<Value = Vec<Policy>> {
    prop::collection::btree_map(name(), policy(), 0..8).prop_map(|m| {
        m.into_iter()
            .map(|(name, p)| Policy { name, ..p })
            .collect()
    })
}

/// The JSON of `spec` with its fields (and each window's fields) in reversed order, and spaces.
fn reordered_json(spec: &PolicySpec) -> String {
    let windows: Vec<String> = spec
        .windows
        .iter()
        .map(|w| {
            format!(
                "{{ \"window_ms\" : {} , \"limit\" : {} }}",
                w.window_ms, w.limit
            )
        })
        .collect();
    let mut out = format!("{{ \"windows\" : [ {} ]", windows.join(" , "));
    if let Some(p) = &spec.pattern {
        out.push_str(&format!(
            " , \"match\" : {}",
            serde_json::to_string(p).unwrap()
        ));
    }
    out.push_str(" }\n");
    out
}

/// A straightforward recursive glob matcher, the reference for the iterative one.
fn reference_glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| reference_glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && reference_glob(rest, &text[1..]),
        Some(('\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && reference_glob(&rest[1..], &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && reference_glob(rest, &text[1..]),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_policies_round_trip_through_json(p in policy()) {
        let back = Policy::from_json(&p.name, &p.to_json()).unwrap();
        prop_assert_eq!(&back, &p);
        let whole: Policy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        prop_assert_eq!(whole, p);
    }

    #[test]
    fn field_order_and_whitespace_do_not_change_a_policy(p in policy()) {
        let json = reordered_json(&p.spec());
        prop_assert_eq!(Policy::from_json(&p.name, &json).unwrap(), p);
    }

    #[test]
    fn the_digest_ignores_load_order_and_field_order(
        (list, shuffled) in policies().prop_flat_map(|l| (Just(l.clone()), Just(l).prop_shuffle())),
    ) {
        let a = PolicySet::new(list.clone()).unwrap();
        let reparsed: Vec<Policy> = shuffled
            .iter()
            .map(|p| Policy::from_json(&p.name, &reordered_json(&p.spec())).unwrap())
            .collect();
        let b = PolicySet::new(reparsed).unwrap();
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.len(), list.len());
    }

    #[test]
    fn a_changed_limit_changes_the_digest(list in policies().prop_filter("non-empty", |l| !l.is_empty())) {
        let a = PolicySet::new(list.clone()).unwrap();
        let mut changed = list;
        let w = &mut changed[0].windows[0];
        w.limit = if w.limit == MAX_LIMIT { 1 } else { w.limit + 1 };
        prop_assert_ne!(a.digest(), PolicySet::new(changed).unwrap().digest());
    }

    #[test]
    fn arbitrary_text_never_panics_and_is_refused_with_a_typed_error(name in ".{0,70}", text in ".{0,200}") {
        match Policy::from_json(&name, &text) {
            Ok(p) => {
                // Only valid policies come out: they survive their own validation again.
                prop_assert_eq!(Policy::new(&p.name, p.spec()).unwrap(), p);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn json_shaped_garbage_gets_a_parse_or_rule_error(
        pattern in prop::option::of(".{0,300}"),
        windows in prop::collection::vec((any::<u64>(), any::<u64>()), 0..12),
        extra in prop::option::of("[a-z]{1,8}"),
    ) {
        let mut obj = serde_json::Map::new();
        if let Some(p) = &pattern {
            obj.insert("match".into(), p.clone().into());
        }
        let ws: Vec<serde_json::Value> = windows
            .iter()
            .map(|(l, w)| serde_json::json!({"limit": l, "window_ms": w}))
            .collect();
        obj.insert("windows".into(), ws.into());
        if let Some(x) = &extra
            && x != "match"
            && x != "windows"
        {
            obj.insert(x.clone(), 1.into());
        }
        let json = serde_json::Value::Object(obj).to_string();
        let got = Policy::from_json("p", &json);
        let valid_windows = !windows.is_empty()
            && windows.len() <= MAX_WINDOWS
            && windows.iter().all(|&(l, w)| (1..=MAX_LIMIT).contains(&l) && (1..=MAX_WINDOW_MS).contains(&w))
            && windows.iter().map(|w| w.1).collect::<std::collections::BTreeSet<_>>().len() == windows.len();
        let valid_pattern = pattern.as_ref().is_some_and(|p| !p.is_empty() && p.len() <= 256);
        let unknown_field = extra.as_ref().is_some_and(|x| x != "match" && x != "windows");
        match got {
            Ok(_) => prop_assert!(valid_windows && valid_pattern && !unknown_field, "{}", json),
            Err(PolicyError::Parse { .. }) => prop_assert!(unknown_field, "{}", json),
            Err(_) => prop_assert!(!(valid_windows && valid_pattern && !unknown_field), "{}", json),
        }
    }

    #[test]
    fn selection_follows_the_reference_glob(pattern in "[ab*?\\\\]{1,8}", key in "[ab]{0,8}") {
        let p = Policy::new("p", PolicySpec {
            algorithm: Default::default(),
            pattern: Some(pattern.clone()),
            windows: vec![Window::new(1, 1)],
        }).unwrap();
        let pat: Vec<char> = pattern.chars().collect();
        let txt: Vec<char> = key.chars().collect();
        prop_assert_eq!(p.matches(&key), reference_glob(&pat, &txt), "{:?} on {:?}", pattern, key);
        let set = PolicySet::new([p, Policy::new(DEFAULT_POLICY, PolicySpec {
            algorithm: Default::default(),
            pattern: None,
            windows: vec![Window::new(1, 1)],
        }).unwrap()]).unwrap();
        let want = if reference_glob(&pat, &txt) { "p" } else { DEFAULT_POLICY };
        prop_assert_eq!(set.select(&key).map(|p| p.name.as_str()), Some(want));
    }

    #[test]
    fn toml_like_specs_build_the_same_set_as_policies(list in policies()) {
        let specs: BTreeMap<String, PolicySpec> =
            list.iter().map(|p| (p.name.clone(), p.spec())).collect();
        prop_assert_eq!(PolicySet::from_specs(specs).unwrap(), PolicySet::new(list).unwrap());
    }
}

fn prefix() -> impl Strategy<Value = String> {
    "[a-z0-9:._-]{1,20}"
}

/// Any policy name the schema accepts.
fn policy_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn user_keys_round_trip_through_the_encoding(key in any::<String>()) {
        let enc = encode_user_key(&key);
        prop_assert!(!enc.contains(['{', '}']), "{:?}", enc);
        prop_assert!(!enc.chars().any(|c| c.is_ascii_control()), "{:?}", enc);
        prop_assert_eq!(decode_user_key(&enc), Some(key));
    }

    #[test]
    fn counter_keys_round_trip(prefix in prefix(), key in any::<String>(), policy in policy_name(), window in any::<u64>()) {
        prop_assert!(validate_prefix(&prefix).is_ok());
        let name = counter_key(&prefix, &key, &policy, window);
        let parsed = parse_counter_key(&prefix, &name).expect("a counter key parses back");
        prop_assert_eq!(parsed.user_key, key);
        prop_assert_eq!(parsed.policy, policy);
        prop_assert_eq!(parsed.window_ms, window);
    }

    #[test]
    fn arbitrary_names_never_panic_the_parsers(prefix in prefix(), name in any::<String>(), enc in any::<String>()) {
        if let Some(parsed) = parse_counter_key(&prefix, &name) {
            // Whatever parses names a counter that the schema would write (up to the encoding
            // of the user key, which accepts escapes it never writes).
            let again = counter_key(&prefix, &parsed.user_key, &parsed.policy, parsed.window_ms);
            prop_assert_eq!(parse_counter_key(&prefix, &again), Some(parsed));
        }
        if let Some(decoded) = decode_user_key(&enc) {
            prop_assert_eq!(decode_user_key(&encode_user_key(&decoded)), Some(decoded));
        }
    }

    #[test]
    fn fingerprints_are_deterministic_idempotent_and_hide_the_secret(
        secret in "[ -~]{8,40}",
        kind in "[a-z]{1,8}",
        value in any::<String>(),
    ) {
        let id = format!("{kind}:{value}");
        let fp = fingerprint_identifier(Some(secret.as_bytes()), &id);
        prop_assert_eq!(&fp, &fingerprint_identifier(Some(secret.as_bytes()), &id));
        prop_assert!(fp.starts_with(&format!("{kind}:fp-")), "{}", fp);
        prop_assert!(is_fingerprint(&fp[kind.len() + 1..]), "{}", fp);
        prop_assert_eq!(fingerprint_identifier(Some(secret.as_bytes()), &fp), fp.clone());
        prop_assert_eq!(fingerprint_identifier(None, &fp), fp.clone(), "idempotent under any secret");
        prop_assert!(!fp[kind.len() + 1..].contains(secret.as_str()), "{} holds the secret", fp);
        let digest = secret_digest(Some(secret.as_bytes())).unwrap();
        prop_assert!(!digest.contains(secret.as_str()));
        prop_assert_eq!(digest.len(), 16);
        // The value itself does not survive unless it is a fingerprint already.
        if value.len() >= 8 && !is_fingerprint(&value) {
            prop_assert!(!fp[kind.len() + 1..].contains(value.as_str()), "{}", fp);
        }
    }

    #[test]
    fn other_secrets_give_other_fingerprints(a in "[ -~]{8,20}", b in "[ -~]{8,20}", value in ".{1,40}") {
        prop_assume!(a != b);
        prop_assert_ne!(fingerprint(Some(a.as_bytes()), &value), fingerprint(Some(b.as_bytes()), &value));
        prop_assert_ne!(secret_digest(Some(a.as_bytes())), secret_digest(Some(b.as_bytes())));
    }

    #[test]
    fn wire_bodies_parse_or_refuse_without_panicking(text in ".{0,200}") {
        let _ = serde_json::from_str::<CheckRequest>(&text);
        let _ = serde_json::from_str::<ErrorBody>(&text);
        let _ = serde_json::from_str::<NodeInfo>(&text);
    }

    #[test]
    fn check_requests_round_trip(key in any::<String>(), cost in prop::option::of(any::<u64>())) {
        let r = CheckRequest { key, cost };
        let back: CheckRequest = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn error_codes_round_trip(i in 0..ErrorCode::VARIANTS.len(), detail in any::<String>()) {
        let body = ErrorBody { error: ErrorCode::VARIANTS[i], detail };
        let back: ErrorBody = serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap();
        prop_assert_eq!(back, body);
    }
}
