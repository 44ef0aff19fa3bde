//! Helpers of the ratelimiter-lab tests: a local stack on free ports in a temporary state
//! directory, killed when dropped even if the test fails.

#![allow(dead_code)] // each test file uses a different part

use ratelimiter_lab::{Environment, LocalEnv, StackConfig};

/// A stack and its state directory; everything it started is killed on drop.
pub struct Stack {
    /// The environment.
    pub env: LocalEnv,
    /// The state directory (removed on drop, after the processes).
    pub dir: tempfile::TempDir,
}

/// The configuration of a 3-node stack on free ports in `dir`.
pub fn config(dir: &std::path::Path) -> StackConfig {
    let ports = test_support::free_ports(4);
    StackConfig {
        state_dir: dir.to_owned(),
        redis_server: test_support::redis::redis_server_bin(),
        node_bin: test_support::workspace_bin("ratelimiter-node"),
        redis_port: ports[0],
        node_ports: ports[1..].to_vec(),
        node_log: "warn".into(),
        ..StackConfig::default()
    }
}

/// Starts a 3-node stack on free ports.
pub async fn up() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let env = LocalEnv::up(config(dir.path())).await.unwrap();
    env.kill_on_drop(true);
    Stack { env, dir }
}

impl Stack {
    /// Every component's port.
    pub fn ports(&self) -> Vec<u16> {
        self.env.state().components.iter().map(|r| r.port).collect()
    }

    /// Every recorded pid.
    pub fn pids(&self) -> Vec<u32> {
        self.env
            .state()
            .components
            .iter()
            .filter_map(|r| r.pid)
            .collect()
    }

    /// A Redis probe.
    pub fn redis(&self) -> ratelimiter_lab::probe::RedisProbe {
        ratelimiter_lab::probe::RedisProbe::new(
            &self.env.endpoints().redis_url,
            std::time::Duration::from_secs(2),
        )
        .unwrap()
    }
}

pub use test_support::process::{alive, listening};
