//! `operator-core` must stay generic: it depends on no network client and no subject crate, and
//! its sources name no subject or subject concept. This test is what fails CI when that breaks.

use std::path::Path;
use std::process::Command;

/// Crates core must never depend on, directly or transitively (normal dependencies).
const FORBIDDEN_DEPS: &[&str] = &[
    "redis",
    "reqwest",
    "axum",
    "hyper",
    "operator-tikv",
    "operator-ratelimiter",
    "ratelimiter-node",
    "ratelimiter-schema",
];

/// Word stems naming a subject or its concepts; a word starting with one is forbidden.
const FORBIDDEN_STEMS: &[&str] = &[
    "tikv",
    "redis",
    "ratelimit",
    "rate-limit",
    "rate_limit",
    "region",
    "raft",
    "lua",
];

/// Whether a line names a subject: a word starting with a forbidden stem, or "rate limit".
fn names_a_subject(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.contains("rate limit")
        || lower
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .any(|word| FORBIDDEN_STEMS.iter().any(|stem| word.starts_with(stem)))
}

/// Forbidden crate names in the output of `cargo tree --prefix none`.
fn forbidden_deps(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN_DEPS.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// `(file, line number, line)` of every forbidden word under `dir`.
fn forbidden_words(dir: &Path) -> Vec<(String, usize, String)> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(forbidden_words(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if names_a_subject(line) {
                    hits.push((path.display().to_string(), n + 1, line.trim().to_owned()));
                }
            }
        }
    }
    hits
}

#[test]
fn core_depends_on_no_network_client_or_subject_crate() {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "operator-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(
        tree.starts_with("operator-core "),
        "unexpected cargo tree output:\n{tree}"
    );
    let bad = forbidden_deps(&tree);
    assert!(
        bad.is_empty(),
        "operator-core depends on {bad:?}; core must stay generic (move it to a subject crate)"
    );
}

#[test]
fn core_sources_name_no_subject() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let hits = forbidden_words(&src);
    assert!(
        hits.is_empty(),
        "operator-core sources name a subject or its concepts:\n{hits:#?}"
    );
}

#[test]
fn the_checks_catch_violations() {
    let tree = "operator-core v0.1.0 (/x)\nchrono v0.4.42\nredis v1.8.1\nreqwest v0.12.28\n";
    assert_eq!(forbidden_deps(tree), ["redis", "reqwest"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.rs"),
        "//! fine\nfn f() {} // talks to Redis\n",
    )
    .unwrap();
    let hits = forbidden_words(dir.path());
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].1, 2);
    assert!(
        names_a_subject("keys in Redis")
            && names_a_subject("a Lua script")
            && names_a_subject("Rate limits")
    );
    assert!(!names_a_subject("evaluates the cluster") && !names_a_subject("allows everything"));
}
