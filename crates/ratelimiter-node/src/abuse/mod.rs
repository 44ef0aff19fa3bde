//! Abuse protection of the decision endpoints (see `docs/ABUSE.md`):
//!
//! - **Enumeration**: a client address that uses more than `--enumeration-limit` distinct API
//!   keys in a minute is blocked for `--enumeration-block`, on every node (the count is a
//!   HyperLogLog per client and minute in Redis, the block a key with that TTL).
//! - **Honeypot keys**: using one of `--honeypot-keys` blocks the client at once.
//! - **Memory guard**: above `--memory-guard-ratio` of Redis `maxmemory`, keys without a
//!   counter yet are limited in process at this node's share instead of creating Redis keys.
//!
//! Parts:
//! - `config`: [`AbuseConfig`], validated with the node's configuration.
//! - `guard`: [`AbuseGuard`], the settings with what the node remembers; `clients` (the bounded
//!   table that spares most requests a Redis call) and `recent` (the last blocks).
//! - `screen`: [`Node::screen_client`](crate::Node::screen_client), the one hook of the
//!   protected endpoints; `response`: the [`Blocked`] answer (429 `client_blocked`).
//! - `memory`: [`MemoryGuard`], the guard's state, fed by the background sampler.
//!
//! Clients and keys appear only as fingerprints under the identifier secret. When Redis fails
//! the guard fails open: it never blocks everyone because it cannot count.

mod clients;
pub(crate) mod config;
mod guard;
mod memory;
mod recent;
mod response;
mod screen;

pub use config::{
    AbuseConfig, AbuseConfigError, DEFAULT_ENUMERATION_BLOCK, DEFAULT_ENUMERATION_LIMIT,
    DEFAULT_MEMORY_GUARD_RATIO, parse_honeypot_keys,
};
pub use guard::AbuseGuard;
pub use memory::MemoryGuard;
pub use response::Blocked;
