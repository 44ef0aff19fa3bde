//! `--node-token` / `OPERATOR_NODE_TOKEN` end to end: the real `operator` binary watching a real
//! node whose admin token comes from `RATELIMITER_ADMIN_TOKEN`. With the token the stack is
//! healthy; the token shows in no output and in no ticket; a node that guards its reads and gets
//! a wrong token is reported as refusing the monitor, saying what to pass.

use std::process::Command;

use serde_json::Value;
use test_support::node::Readiness;
use test_support::{NodeProcess, RedisServer, http};

const TOKEN: &str = "cli-t0ken-under-test";

/// `operator monitor --subject ratelimit --once --json` with `OPERATOR_NODE_TOKEN=token`:
/// (exit code, document, stdout and stderr together).
fn once(redis: &RedisServer, node: &NodeProcess, db: &str, token: &str) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args([
            "--db",
            db,
            "monitor",
            "--subject",
            "ratelimit",
            "--once",
            "--json",
        ])
        .args(["--redis-url", &redis.url(), "--nodes", &node.url()])
        .env("OPERATOR_NODE_TOKEN", token)
        .env("OPERATOR_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout}"));
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), doc, all)
}

#[test]
fn the_token_from_the_environment_reaches_the_nodes_and_nowhere_else() {
    let redis = RedisServer::start();
    let node = NodeProcess::builder(&redis.url(), "node-1")
        .env("RATELIMITER_ADMIN_TOKEN", TOKEN)
        .wait_for(Readiness::Ready)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db").to_string_lossy().into_owned();

    let (code, doc, all) = once(&redis, &node, &db, TOKEN);
    assert_eq!((code, &doc["healthy"]), (0, &Value::Bool(true)), "{doc:#}");
    assert!(!all.contains(TOKEN), "the token is never printed: {all}");

    let (status, _) = http::get(node.port, "/v1/node").unwrap();
    assert_eq!(status, 401, "GET /v1/node without a token");
    let wrong = "wrong-cli-token";
    let (code, doc, all) = once(&redis, &node, &db, wrong);
    assert_eq!(code, 1, "{doc:#}");
    let v = doc["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["invariant"] == "node_down")
        .unwrap_or_else(|| panic!("node_down reported: {doc:#}"));
    assert_eq!(v["severity"], "warning");
    assert!(
        v["message"].as_str().unwrap().contains("refused the token"),
        "{v}"
    );
    assert!(!all.contains(wrong) && !all.contains(TOKEN), "{all}");
    let stored = std::fs::read(dir.path().join("t.db")).unwrap();
    let stored = String::from_utf8_lossy(&stored);
    assert!(!stored.contains(wrong) && !stored.contains(TOKEN));
}
