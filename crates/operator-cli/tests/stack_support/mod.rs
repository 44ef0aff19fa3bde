//! Helpers for the tests of `operator stack`, `chaos`, `load` and `demo`: a state directory on
//! free ports whose stack is always stopped, even when the test fails.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `operator` with `args`.
pub fn operator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(args)
        .env("OPERATOR_LOG", "error")
        .env_remove("OPERATOR_STATE_DIR")
        .output()
        .expect("run operator")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every line of stdout as JSON.
pub fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A state directory and free ports for a stack; `operator stack down` runs on drop.
pub struct StackDir {
    /// The state directory.
    pub dir: tempfile::TempDir,
    /// Redis's port.
    pub redis_port: u16,
    /// The nodes' ports.
    pub node_ports: Vec<u16>,
}

impl StackDir {
    /// Free ports, nothing started.
    pub fn new() -> Self {
        let ports = test_support::free_ports(4);
        Self {
            dir: tempfile::tempdir().unwrap(),
            redis_port: ports[0],
            node_ports: ports[1..].to_vec(),
        }
    }

    /// The state directory as a string.
    pub fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// `--redis-port R --node-ports A,B,C --state-dir D`.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--redis-port".into(),
            self.redis_port.to_string(),
            "--node-ports".into(),
            self.node_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "--state-dir".into(),
            self.path(),
        ]
    }

    /// `operator stack up` with these ports; panics unless it succeeds.
    pub fn up(&self) {
        let mut args = vec!["stack", "up"];
        let flags = self.flags();
        args.extend(flags.iter().map(String::as_str));
        let out = operator(&args);
        assert!(
            out.status.success(),
            "stack up failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }

    /// Every port of the stack.
    pub fn ports(&self) -> Vec<u16> {
        let mut p = vec![self.redis_port];
        p.extend(&self.node_ports);
        p
    }

    /// The pids recorded in the state file.
    pub fn pids(&self) -> Vec<u32> {
        pids_in(self.dir.path())
    }

    /// The stack's Redis URL.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.redis_port)
    }

    /// The nodes as a `--nodes` value (`http://127.0.0.1:P,...`).
    pub fn nodes_flag(&self) -> String {
        self.node_ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `operator chaos WORDS` on the stack; it must succeed with every verification held.
    pub fn chaos(&self, words: &[&str]) -> Output {
        let dir = self.path();
        let mut args = vec!["chaos", "--state-dir", &dir, "--subject", "ratelimit"];
        args.extend(words);
        let out = operator(&args);
        assert!(
            out.status.success() && !stdout(&out).contains("FAIL"),
            "chaos {words:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        out
    }

    /// The offline diagnosis of ticket `id` in the ticket store `db`, with this stack's Redis
    /// and nodes: (rule, root cause, summary).
    pub fn diagnose(&self, db: &Path, id: &Value) -> (String, String, String) {
        let (db, id) = (db.to_string_lossy().into_owned(), id.to_string());
        let (redis, nodes) = (self.redis_url(), self.nodes_flag());
        let out = Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["--db", &db, "--json", "diagnose", &id])
            .args([
                "--subject",
                "ratelimit",
                "--redis-url",
                &redis,
                "--nodes",
                &nodes,
            ])
            .env("OPERATOR_LOG", "error")
            .env_remove("OPERATOR_DIAGNOSER")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap();
        assert!(out.status.success(), "diagnose {id}: {}", stderr(&out));
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let d = &doc["diagnosis"];
        assert_eq!(d["diagnoser"], "offline", "{d:#}");
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        (
            d["rule"].as_str().unwrap_or("no rule").to_owned(),
            text(&d["diagnosis"]["root_cause"]),
            text(&d["diagnosis"]["summary"]),
        )
    }
}

impl Drop for StackDir {
    fn drop(&mut self) {
        stop(self.dir.path());
    }
}

/// The pids recorded in the state file of `dir`.
pub fn pids_in(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(dir.join("stack.json")) else {
        return Vec::new();
    };
    let state: Value = serde_json::from_str(&text).unwrap_or_default();
    state["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["pid"].as_u64())
        .map(|p| u32::try_from(p).unwrap())
        .collect()
}

/// Stops whatever the state directory `dir` records: `operator stack down`, and SIGKILL if
/// that leaves anything running.
pub fn stop(dir: &Path) {
    let pids = pids_in(dir);
    let d = PathBuf::from(dir).display().to_string();
    let _ = operator(&["stack", "down", "--state-dir", &d]);
    for pid in pids {
        if alive(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[allow(unused_imports)] // each test file uses a different part
pub use test_support::process::{alive, listening};
