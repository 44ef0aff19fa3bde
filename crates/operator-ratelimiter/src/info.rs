//! The parts of Redis `INFO` the invariants use.

use serde::{Deserialize, Serialize};

/// Selected `INFO` fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RedisInfo {
    /// `redis_version`.
    pub version: String,
    /// `run_id`: changes when Redis restarts.
    pub run_id: String,
    /// `uptime_in_seconds`.
    pub uptime_s: u64,
    /// `role`: `master` or `slave`.
    pub role: String,
    /// `used_memory`, bytes.
    pub used_memory: u64,
    /// `maxmemory`, bytes (0: no limit).
    pub maxmemory: u64,
    /// `maxmemory_policy`.
    pub maxmemory_policy: String,
    /// `evicted_keys` since start.
    pub evicted_keys: u64,
    /// `expired_keys` since start.
    pub expired_keys: u64,
    /// `connected_clients`.
    pub connected_clients: u64,
    /// `aof_enabled`.
    pub aof_enabled: bool,
    /// `rdb_last_bgsave_status` is `ok`.
    pub rdb_last_save_ok: bool,
    /// `loading`: still loading its data set.
    pub loading: bool,
    /// `rdb_last_load_keys_loaded`: keys loaded from disk when it started (0 for a server that
    /// started empty).
    #[serde(default)]
    pub keys_loaded_at_start: u64,
    /// `number_of_cached_scripts`: scripts in the script cache (0 after `SCRIPT FLUSH` or a
    /// restart, until a node loads its scripts again). Absent from older snapshots.
    #[serde(default)]
    pub cached_scripts: u64,
}

impl RedisInfo {
    /// Whether this server started without data: nothing loaded from an RDB file and no AOF.
    pub fn started_empty(&self) -> bool {
        !self.aof_enabled && self.keys_loaded_at_start == 0
    }
}

impl RedisInfo {
    /// Parses the text of `INFO`; unknown or missing fields keep their defaults.
    pub fn parse(text: &str) -> Self {
        let mut info = RedisInfo {
            rdb_last_save_ok: true,
            ..Default::default()
        };
        for line in text.lines() {
            let Some((k, v)) = line.trim_end().split_once(':') else {
                continue;
            };
            let num = || v.parse::<u64>().unwrap_or(0);
            match k {
                "redis_version" => info.version = v.to_owned(),
                "run_id" => info.run_id = v.to_owned(),
                "uptime_in_seconds" => info.uptime_s = num(),
                "role" => info.role = v.to_owned(),
                "used_memory" => info.used_memory = num(),
                "maxmemory" => info.maxmemory = num(),
                "maxmemory_policy" => info.maxmemory_policy = v.to_owned(),
                "evicted_keys" => info.evicted_keys = num(),
                "expired_keys" => info.expired_keys = num(),
                "connected_clients" => info.connected_clients = num(),
                "aof_enabled" => info.aof_enabled = v == "1",
                "rdb_last_bgsave_status" => info.rdb_last_save_ok = v == "ok",
                "loading" => info.loading = v == "1",
                "rdb_last_load_keys_loaded" => info.keys_loaded_at_start = num(),
                "number_of_cached_scripts" => info.cached_scripts = num(),
                _ => {}
            }
        }
        info
    }

    /// Used memory as a share of `maxmemory`, when a limit is set.
    pub fn memory_ratio(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)] // byte counts far below 2^52
        (self.maxmemory > 0).then(|| self.used_memory as f64 / self.maxmemory as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_it_needs() {
        let text = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\nuptime_in_seconds:42\r\n\r\n# Clients\r\n\
                    connected_clients:7\r\n# Memory\r\nused_memory:1048576\r\nmaxmemory:2097152\r\n\
                    maxmemory_policy:volatile-lru\r\n# Persistence\r\nloading:0\r\naof_enabled:1\r\n\
                    rdb_last_bgsave_status:err\r\nrdb_last_load_keys_loaded:12\r\n# Stats\r\nevicted_keys:3\r\nexpired_keys:10\r\n\
                    # Replication\r\nrole:master\r\nnumber_of_cached_scripts:2\r\n";
        let info = RedisInfo::parse(text);
        assert_eq!(info.version, "7.0.15");
        assert_eq!(info.run_id, "abc123");
        assert_eq!(
            (info.uptime_s, info.connected_clients, info.evicted_keys),
            (42, 7, 3)
        );
        assert_eq!(info.maxmemory_policy, "volatile-lru");
        assert_eq!(info.role, "master");
        assert!(info.aof_enabled && !info.rdb_last_save_ok && !info.loading);
        assert_eq!(info.keys_loaded_at_start, 12);
        assert_eq!(info.cached_scripts, 2);
        assert!(!info.started_empty());
        assert_eq!(info.memory_ratio(), Some(0.5));
        assert_eq!(RedisInfo::default().memory_ratio(), None);
    }
}
