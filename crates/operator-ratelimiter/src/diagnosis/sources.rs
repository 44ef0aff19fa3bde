//! The extra context the rate limiter supplies for a diagnosis: per-node failure-mode counts
//! (from the freshest observation), an excerpt of Redis `INFO` (read now), and the last lines of
//! the nodes' log files when they are configured.

use std::path::PathBuf;

use operator_core::{ContextSection, Ticket};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::observation::Observation;
use crate::redact;
use crate::redis_handle::RedisHandle;

/// Where the extra context comes from. Build with [`Default`] (no log files, the last 40 lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSources {
    /// Log files of the nodes (one per node, or a shared one), read from the end.
    pub node_logs: Vec<PathBuf>,
    /// Lines kept from the end of each log file.
    pub log_lines: usize,
}

impl Default for ContextSources {
    fn default() -> Self {
        Self {
            node_logs: Vec::new(),
            log_lines: 40,
        }
    }
}

/// `INFO` fields worth a diagnosis (besides `errorstat_*`, all kept).
const INFO_FIELDS: &[&str] = &[
    "redis_version",
    "run_id",
    "uptime_in_seconds",
    "role",
    "connected_clients",
    "blocked_clients",
    "used_memory_human",
    "maxmemory_human",
    "maxmemory_policy",
    "mem_fragmentation_ratio",
    "number_of_cached_scripts",
    "loading",
    "aof_enabled",
    "rdb_last_bgsave_status",
    "rdb_changes_since_last_save",
    "total_connections_received",
    "rejected_connections",
    "total_commands_processed",
    "instantaneous_ops_per_sec",
    "expired_keys",
    "evicted_keys",
    "keyspace_hits",
    "keyspace_misses",
    "master_link_status",
    "connected_slaves",
    "db0",
];

/// The sections for `ticket`: failure modes from `latest`, Redis `INFO` read now through
/// `redis`, and the log files of `sources`.
pub(crate) async fn gather(
    redis: &RedisHandle,
    sources: &ContextSources,
    _ticket: &Ticket,
    latest: Option<&Observation>,
) -> Vec<ContextSection> {
    let mut sections = Vec::new();
    if let Some(o) = latest {
        sections.push(ContextSection::new(
            "failure_modes",
            "each node's failure mode and the decisions it took by it since it started, with its view of Redis",
            failure_modes(o),
        ));
    }
    sections.push(ContextSection::new(
        "redis_info",
        "selected Redis INFO fields, read now (errorstat_* count errors by type, e.g. NOSCRIPT)",
        redis_info(redis).await,
    ));
    if !sources.node_logs.is_empty() {
        let mut logs = Map::new();
        for path in &sources.node_logs {
            let value = match tail(path, sources.log_lines).await {
                Ok(lines) => json!(lines),
                Err(e) => json!({ "error": e.to_string() }),
            };
            logs.insert(path.display().to_string(), value);
        }
        sections.push(ContextSection::new(
            "node_logs",
            format!("the last {} lines of each node log file", sources.log_lines),
            Value::Object(logs),
        ));
    }
    sections
}

fn failure_modes(o: &Observation) -> Value {
    Value::Array(
        o.nodes
            .iter()
            .map(|n| match &n.info {
                Some(i) => json!({
                    "node": n.label(),
                    "failure_mode": i.failure_mode,
                    "decided_by_failure_mode": i.failure_decisions,
                    "decisions": i.decisions,
                    "redis_ok": i.redis_ok,
                    "redis_errors": i.redis_errors,
                    "redis_timeouts": i.redis_timeouts,
                    "redis_skipped": i.redis_skipped,
                    "redis_rtt_us": i.redis_rtt_us,
                    "up_nodes": i.up_nodes,
                }),
                None => json!({ "node": n.label(), "error": n.error }),
            })
            .collect(),
    )
}

async fn redis_info(redis: &RedisHandle) -> Value {
    let text = redis
        .run(redis.timeout() * 2, |mut c| async move {
            redis::cmd("INFO").query_async::<String>(&mut c).await
        })
        .await;
    match text {
        Ok(text) => {
            let mut fields = Map::new();
            for line in text.lines() {
                let Some((k, v)) = line.trim_end().split_once(':') else {
                    continue;
                };
                if INFO_FIELDS.contains(&k) || k.starts_with("errorstat_") {
                    fields.insert(k.to_owned(), Value::String(v.to_owned()));
                }
            }
            Value::Object(fields)
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The last `n` lines of the file at `path` (reading at most its last 256 KiB), colour codes
/// stripped and API keys in clear hidden.
async fn tail(path: &PathBuf, n: usize) -> std::io::Result<Vec<String>> {
    const WINDOW: u64 = 256 * 1024;
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let start = len.saturating_sub(WINDOW);
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // most likely cut in the middle
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..]
        .iter()
        .map(|l| redact::line(&strip_ansi(l)))
        .collect())
}

/// `line` without terminal colour codes (`ESC [ ... m` and the like), which loggers write to
/// files too.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tail_keeps_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("rl-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let lines = tail(&path, 3).await.unwrap();
        assert_eq!(lines, ["line 98", "line 99", "line 100"]);
        assert_eq!(tail(&path, 1000).await.unwrap().len(), 100);
        assert!(tail(&dir.join("missing.log"), 3).await.is_err());
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m ok"),
            "2026  INFO ok"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
