//! The near cache (`--near-cache`): hot keys decided without a Redis round trip, and never
//! admitting what Redis would deny (docs/NEAR_CACHE.md).
//!
//! - [`entry`]: one key's entry and how it answers, pure: a **cached denial** (the counters
//!   Redis returned with a denial, re-decided for any cost at an upper bound of Redis time) and
//!   a **lease** (units Redis counted for this node at once, spent locally until the window
//!   ends).
//! - [`sizing`]: how large a lease may be (under 1 % of the limit over all live nodes).
//! - [`cache`]: [`NearCache`], the entries in locked shards, bounded in bytes (FIFO eviction),
//!   one in-flight lease call per key ([`Flight`]), invalidation by generation.
//! - `shard`: one shard's entries, FIFO order and byte count, and its eviction.
//! - [`stats`]: counters, gauges, `/v1/node`'s `near_cache` ([`NearInfo`]) and the metrics.
//! - `path`: the I/O: the decision path through the cache and Redis (`lua/lease.lua`), the
//!   give-back of leases on shutdown, the reset epoch polled beside the policies.

pub mod cache;
pub mod entry;
pub(crate) mod path;
pub mod shard;
pub mod sizing;
pub mod stats;

pub use cache::{Flight, Lookup, NearCache};
pub use entry::CacheHit;
pub use shard::FlightState;
pub use stats::{NearInfo, NearStats};
