//! The TOML policies file (`--policies`): generated valid files load to the set they describe,
//! whatever the key order; arbitrary text gives a typed error, never a panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use ratelimiter_node::ConfigError;
use ratelimiter_node::config::load_policies_file;
use ratelimiter_schema::policy::{MAX_LIMIT, MAX_WINDOW_MS, MAX_WINDOWS};
use ratelimiter_schema::{Policy, PolicySet, PolicySpec, Window};

fn spec() -> impl Strategy<Value = PolicySpec> {
    let windows = prop::collection::btree_map(1..=MAX_WINDOW_MS, 1..=MAX_LIMIT, 1..=MAX_WINDOWS)
        .prop_map(|m| {
            m.into_iter()
                .map(|(window_ms, limit)| Window::new(limit, window_ms))
                .collect::<Vec<_>>()
        });
    let pattern =
        any::<String>().prop_filter("1 to 256 bytes", |s| !s.is_empty() && s.len() <= 256);
    (pattern, windows).prop_map(|(p, windows)| PolicySpec {
        algorithm: Default::default(),
        pattern: Some(p),
        windows,
    })
}

fn specs() -> impl Strategy<Value = BTreeMap<String, PolicySpec>> {
    prop::collection::btree_map("[A-Za-z0-9_-]{1,64}", spec(), 0..6).prop_map(|mut m| {
        if let Some(d) = m.get_mut("default") {
            d.pattern = None;
        }
        m
    })
}

/// A TOML string literal.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The file by hand, keys in reverse order and inline tables.
fn hand_written(specs: &BTreeMap<String, PolicySpec>) -> String {
    let mut out = String::from("# generated\n[policies]\n");
    for (name, spec) in specs.iter().rev() {
        out.push_str(&format!("\n[policies.{}]\n", toml_string(name)));
        let windows: Vec<String> = spec
            .windows
            .iter()
            .map(|w| format!("{{ window_ms = {}, limit = {} }}", w.window_ms, w.limit))
            .collect();
        out.push_str(&format!("windows = [{}]\n", windows.join(", ")));
        if let Some(p) = &spec.pattern {
            out.push_str(&format!("match = {}\n", toml_string(p)));
        }
    }
    out
}

fn load(text: &str) -> Result<PolicySet, ConfigError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("policies.toml");
    std::fs::write(&path, text).expect("write the file");
    load_policies_file(&path)
}

fn expected(specs: &BTreeMap<String, PolicySpec>) -> PolicySet {
    PolicySet::new(
        specs
            .iter()
            .map(|(n, s)| Policy::new(n, s.clone()).expect("valid")),
    )
    .expect("a valid set")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_files_load_to_the_set_they_describe(specs in specs()) {
        let want = expected(&specs);
        let hand = load(&hand_written(&specs)).unwrap();
        prop_assert_eq!(hand.digest(), want.digest());
        prop_assert_eq!(&hand, &want);
        let mut file = BTreeMap::new();
        file.insert("policies", specs);
        let serialized = toml::to_string(&file).unwrap();
        prop_assert_eq!(load(&serialized).unwrap(), want, "{}", serialized);
    }

    #[test]
    fn arbitrary_text_gives_a_typed_error(text in prop_oneof![
        ".{0,300}",
        "\\[policies\\.[a-z ]{0,10}\\]\n(match = \"[a-z*]{0,5}\"\n)?windows = \\[[{}a-z0-9=, _]{0,60}\\]\n",
    ]) {
        match load(&text) {
            Ok(set) => prop_assert!(set.len() <= 1_000),
            Err(e) => {
                prop_assert!(matches!(e, ConfigError::PoliciesSyntax { .. } | ConfigError::Policy { .. }), "{:?}", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn invalid_bytes_are_a_read_error(bytes in prop::collection::vec(0x80u8..=0xff, 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.toml");
        // 0xFF never occurs in UTF-8, so the file cannot be text.
        std::fs::write(&path, [&[0xff_u8][..], &bytes].concat()).unwrap();
        let is_read_error = matches!(load_policies_file(&path), Err(ConfigError::PoliciesRead { .. }));
        prop_assert!(is_read_error);
    }
}
