//! The rate limiter's lab: its stack on a laptop (local processes or compose containers), chaos
//! on demand, and the end-to-end demo.
//!
//! # Why a lab, and why the rate limiter's
//! This crate is not a generic environment layer. Everything in it is shaped by the rate
//! limiter: a [`Component`] is Redis or a node, [`Endpoints`] are a Redis URL and node URLs, the
//! faults kill Redis, flush its scripts or write keys without a TTL, and the demo drives the
//! rate-limiter subject and its bench. So it depends on `operator-ratelimiter` and
//! `ratelimiter-bench`, and only the CLI depends on it. A second subject with a lab of its own
//! would reuse the shapes (an environment trait of verbs that wait until they took effect, a
//! state file per environment in a state directory, faults that say how they are undone and
//! verify it, a demo narrated as values) and little of the code: `state_file`, `binaries` and
//! `human` would move to a shared crate then, and its components, probes, faults and chapters
//! would be its own.
//!
//! # Layout
//! - [`environment`]: the [`Environment`] trait (start, stop, kill, pause, resume, restart,
//!   restart empty, disconnect and reconnect named [`Component`]s, status, down) that chaos and
//!   the demo speak, whatever runs the stack, and [`EnvKind`], which one runs it.
//! - [`recorded`]: [`open`], the stack a state directory records in a given environment (its
//!   error's [`hint`](Error::hint) names the other environment when that one is recorded there),
//!   and [`recorded_endpoints`], where the recorded stack answers, whichever it is.
//! - [`local`]: [`LocalEnv`], the stack as local processes (`redis-server` and
//!   `ratelimiter-node`s on 127.0.0.1), recorded in a state directory ([`StackState`]), configured
//!   by [`StackConfig`].
//! - [`compose`]: [`ComposeEnv`], the stack as the services of `docker-compose.ratelimit.yml`,
//!   driven through the compose CLI and recorded in the state directory ([`ComposeState`]),
//!   configured by [`ComposeConfig`].
//! - [`chaos`]: [`Fault`]s with [`inject`](chaos::inject) and [`undo`](chaos::undo), each
//!   reporting what it did, how it is undone, and what was verified ([`FaultReport`]).
//! - [`demo`]: `operator demo ratelimit` as a library: on any environment the caller brought
//!   up, steady load, the monitor loop driven in-process, five chapters of faults, measured and
//!   narrated.
//! - [`eval`]: `operator eval` as a library: repeated fault trials on the demo's running
//!   context, each judged against its fault's expectation; win rate, MTTD, MTTR, false tickets.
//! - [`binaries`]: finding `redis-server` and `ratelimiter-node`, installing Redis (without
//!   starting the packaged service).
//! - [`probe`]: bounded probes of Redis and the nodes.
//! - [`ports`]: free ports on 127.0.0.1, and moving a stack's taken ports to free ones.
//! - [`state_file`]: [`StateFile`], the JSON state file every environment keeps, read and written
//!   one way (mode 0600: it may hold the stack's secrets).
//! - [`secret`]: [`Secret`] and [`NodeSecrets`], the admin token and identifier secret a stack
//!   hands its nodes through their environment (never their argv), redacted when shown.
//! - [`human`]: durations as people read them.

pub mod binaries;
pub mod chaos;
pub mod compose;
pub mod demo;
pub mod environment;
mod error;
pub mod eval;
pub mod human;
pub mod local;
pub mod ports;
pub mod probe;
pub mod recorded;
pub mod secret;
pub mod state_file;

pub use chaos::{Check, Fault, FaultReport};
pub use compose::{ComposeConfig, ComposeEnv, ComposeState};
pub use demo::{DemoConfig, DemoOutcome};
pub use environment::{
    Component, ComponentStatus, DownReport, Endpoints, EnvKind, Environment, PauseStyle,
};
pub use error::{Error, Result};
pub use eval::{EvalConfig, EvalReport};
pub use local::{LocalEnv, StackConfig, StackState};
pub use recorded::{open, recorded_endpoints};
pub use secret::{NodeSecrets, Secret};
pub use state_file::StateFile;
