//! Helpers shared by the workspace's tests. Not part of any shipped binary.
//!
//! - [`ports`]: free loopback ports.
//! - [`process`]: child processes that die with the test ([`ChildGuard`]), even when it panics or
//!   is killed.
//! - [`redis`]: a real `redis-server` on a free port in a temporary directory ([`RedisServer`]).
//! - [`bins`]: locating the workspace's own binaries from any crate's tests.
//! - [`stack`]: a local rate-limiter stack (Redis and real `ratelimiter-node` processes).
//! - [`docker`]: images built `FROM scratch` from local binaries, for an engine that cannot pull.
//!
//! Everything here fails loudly (panics with what to install) rather than skipping a test.

#![allow(clippy::print_stderr)] // test helpers report retries on stderr, as the harness does

pub mod bins;
pub mod docker;
pub mod ports;
pub mod process;
pub mod redis;
pub mod stack;

pub use bins::workspace_bin;
pub use ports::{free_port, free_ports};
pub use process::ChildGuard;
pub use redis::RedisServer;
pub use stack::{LocalStack, wait_for};
