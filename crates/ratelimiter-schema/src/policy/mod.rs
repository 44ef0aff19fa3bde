//! Policies: which keys get which limits.
//!
//! A [`Policy`] is a name, a glob pattern over keys and one or more [`Window`]s. Every window is
//! checked and consumed atomically by one decision. The policy named [`DEFAULT_POLICY`] matches
//! every key no other policy matches; among the others, the most specific matching pattern wins
//! (more literal characters, then fewer `*`, then fewer `?`, then the smaller name).
//!
//! The JSON body of `PUT /v1/policies/{name}`, each stored policy in Redis and each entry of the
//! TOML seed file have the shape of [`PolicySpec`]:
//! `{"match": "login:*", "windows": [{"limit": 5, "window_ms": 1000}]}`; optionally with
//! `"algorithm": "gcra"` and a `"burst"` per window ([`Algorithm`]).
//!
//! Layout: `algorithm` ([`Algorithm`]: `sliding_window` or `gcra`), `window` ([`Window`], its
//! [`GcraParams`] and the rules of a policy's windows), `spec` ([`PolicySpec`],
//! [`Policy`] and their validation) and `set` ([`PolicySet`], selection and digest). This module
//! only declares and re-exports.

mod algorithm;
mod set;
mod spec;
mod window;

pub use algorithm::Algorithm;
pub use set::{MAX_POLICIES, PolicySet};
pub use spec::{DEFAULT_POLICY, MAX_PATTERN_BYTES, Policy, PolicySpec, validate_name};
pub use window::{GcraParams, MAX_LIMIT, MAX_WINDOW_MS, MAX_WINDOWS, Window, window_label};
