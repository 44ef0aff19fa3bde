//! Helpers shared by the workspace's tests. Not part of any shipped binary.
//!
//! # Layout
//! - [`redis`]: a real `redis-server` on a free port in a temporary directory ([`RedisServer`]),
//!   started from one command line ([`RedisBuilder`]: a given port, a password, TLS, extra
//!   arguments); [`resp`] speaks to it without a client library.
//! - [`redis_cluster`]: a real 3+3 Redis Cluster on six consecutive ports ([`RedisCluster`]),
//!   with helpers to find, kill and restart the primary of a key's slot and to migrate a slot;
//!   [`redis_sentinel`]: a primary, a replica and three sentinels ([`RedisSentinels`]);
//!   [`redis_tools`]: their ports, `CLUSTER NODES` parsing and `redis-cli`.
//! - [`node`]: a real `ratelimiter-node` process ([`NodeProcess`], [`NodeBuilder`]): the one way
//!   tests start a node.
//! - [`stack`]: a local rate-limiter stack, Redis and `n` nodes ([`LocalStack`]).
//! - [`tls`]: a test CA and a certificate for 127.0.0.1 ([`TlsFiles`], made with `openssl`).
//! - [`process`]: child processes that die with the test ([`ChildGuard`]), even when it panics or
//!   is killed, and running a command to its end.
//! - [`http`]: a minimal blocking HTTP client for 127.0.0.1; [`wait`]: polling for a condition.
//! - [`ports`]: free loopback ports; [`bins`]: the workspace's own binaries from any crate's tests.
//! - [`docker`]: images built `FROM scratch` from local binaries, for an engine that cannot pull.
//! - [`otlp`]: an in-process OTLP receiver (gRPC or HTTP/protobuf) collecting spans
//!   ([`OtlpReceiver`]).
//!
//! Everything here fails loudly (panics with what to install) rather than skipping a test.

#![allow(clippy::print_stderr)] // test helpers report retries on stderr, as the harness does

pub mod bins;
pub mod docker;
pub mod http;
pub mod node;
pub mod otlp;
pub mod ports;
pub mod process;
pub mod redis;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod redis_tools;
pub mod resp;
pub mod stack;
pub mod tls;
pub mod wait;

pub use bins::workspace_bin;
pub use node::{NodeBuilder, NodeProcess};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use ports::{free_port, free_ports};
pub use process::ChildGuard;
pub use redis::{RedisBuilder, RedisServer};
pub use redis_cluster::{ClusterPorts, RedisCluster};
pub use redis_sentinel::RedisSentinels;
pub use stack::LocalStack;
pub use tls::TlsFiles;
pub use wait::wait_for;
