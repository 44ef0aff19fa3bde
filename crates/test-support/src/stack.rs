//! A local rate-limiter stack for black-box tests: a real `redis-server` and real
//! `ratelimiter-node` processes ([`NodeProcess`]) on free loopback ports, all killed on drop.

use crate::node::{NodeProcess, Readiness};
use crate::ports::free_ports;
use crate::redis::RedisServer;

// The helpers' names from before they had modules of their own, for the CLI's tests.

/// Redis and `n` nodes sharing it.
#[derive(Debug)]
pub struct LocalStack {
    /// The Redis server.
    pub redis: RedisServer,
    /// The nodes, in start order (`node-1`, `node-2`, ...).
    pub nodes: Vec<NodeProcess>,
}

impl LocalStack {
    /// Starts Redis and `n` nodes (`--node-id node-<i>`), each with `extra(i)` flags, and waits
    /// until every node is ready.
    ///
    /// # Panics
    /// When a binary is missing or a node does not become ready in time.
    pub fn start(n: usize, extra: impl Fn(usize) -> Vec<String>) -> Self {
        let redis = RedisServer::start();
        let mut nodes: Vec<NodeProcess> = (1..=n)
            .zip(free_ports(n))
            .map(|(i, port)| {
                NodeProcess::builder(&redis.url(), &format!("node-{i}"))
                    .port(port)
                    .args(extra(i))
                    .wait_for(Readiness::Ready)
                    .spawn()
            })
            .collect();
        for node in &mut nodes {
            node.wait();
        }
        Self { redis, nodes }
    }

    /// Base URLs of the nodes.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(NodeProcess::url).collect()
    }

    /// The nodes' URLs joined by commas, as `--nodes` takes them.
    pub fn nodes_flag(&self) -> String {
        self.node_urls().join(",")
    }

    /// Waits until node `i` (0-based) answers `/readyz` with 200.
    ///
    /// # Panics
    /// After [`START_TIMEOUT`](crate::node::START_TIMEOUT).
    pub fn wait_ready(&mut self, i: usize) {
        self.nodes[i].wait_ready();
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill_node(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again with the same flags (after [`kill_node`](Self::kill_node)) and waits
    /// until it is ready.
    pub fn restart_node(&mut self, i: usize) {
        self.nodes[i].restart();
    }

    /// Restarts node `i` with its base flags plus `extra` instead of the extra flags it had.
    pub fn restart_node_with(&mut self, i: usize, extra: Vec<String>) {
        self.nodes[i].restart_with(extra);
    }
}
