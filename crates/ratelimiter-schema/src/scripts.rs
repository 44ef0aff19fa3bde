//! The Lua scripts that write the policy set. They are part of the contract: whoever changes the
//! policies in Redis (a node, or the operator repairing them) runs these, so the version bump,
//! the TTL and the "seed only when absent" rule live in one place.
//!
//! Every script takes the policies hash ([`keys::policies_key`](crate::keys::policies_key)) as
//! `KEYS[1]` and [`LONG_TTL_MS`](crate::keys::LONG_TTL_MS) as its TTL argument.

/// Seeds the whole set when the hash is absent.
///
/// `ARGV[1]` TTL ms; `ARGV[2]` lowest acceptable version; `ARGV[3..]` field, spec JSON pairs.
/// The version starts at `max(ARGV[2], Redis time in ms)`. Returns 1 when seeded, 0 when the
/// hash already existed (nothing written).
pub const POLICY_SEED: &str = include_str!("lua/policy_seed.lua");

/// Stores one policy and bumps the version.
///
/// `ARGV[1]` field (`policy:<name>`); `ARGV[2]` spec JSON; `ARGV[3]` TTL ms. Returns the new
/// version, or -1 when the hash does not exist (seed the full set first).
pub const POLICY_PUT: &str = include_str!("lua/policy_put.lua");

/// Deletes one policy and bumps the version.
///
/// `ARGV[1]` field; `ARGV[2]` TTL ms. Returns `{removed (1/0), version}`, or `{-1, 0}` when the
/// hash does not exist.
pub const POLICY_DELETE: &str = include_str!("lua/policy_delete.lua");
