//! Shared by the diagnosis and agent real-stack tests: running `operator` on a stack with a
//! password in the Redis URL, and reading tickets back.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use test_support::LocalStack;

/// The stack's Redis URL with a password in it (the default user takes any password when none
/// is set), to check that secrets never reach a context document.
pub const PASSWORD: &str = "s3cret-pw";

/// Signal numbers, without a libc dependency in this crate's tests.
pub const SIGSTOP: i32 = 19;
pub const SIGCONT: i32 = 18;

pub fn secret_url(stack: &LocalStack) -> String {
    format!(
        "redis://default:{PASSWORD}@127.0.0.1:{}",
        stack.redis.port()
    )
}

/// Runs `operator --db DB ARGS --subject ratelimit --redis-url URL --nodes NODES`, returning
/// (exit code, stdout, stderr).
pub fn run(
    db: &Path,
    stack: &LocalStack,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .args(["--subject", "ratelimit", "--redis-url", &secret_url(stack)])
        .args(["--nodes", &stack.nodes_flag()])
        .env("OPERATOR_LOG", "error");
    for var in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPERATOR_DIAGNOSER",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The open ticket of `invariant` (any entity) in `db`.
pub fn ticket_of(db: &Path, invariant: &str) -> i64 {
    let (_, out) = super::operator(&[
        "--db",
        &db.to_string_lossy(),
        "--json",
        "tickets",
        "list",
        "--status",
        "all",
    ]);
    let tickets: Value = serde_json::from_str(&out).unwrap();
    tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["invariant"] == invariant)
        .unwrap_or_else(|| panic!("no {invariant} ticket in {tickets:#}"))["id"]
        .as_i64()
        .unwrap()
}

pub fn ticket_json(db: &Path, id: i64) -> Value {
    let (code, out) = super::operator(&[
        "--db",
        &db.to_string_lossy(),
        "--json",
        "tickets",
        "show",
        &id.to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap()
}
