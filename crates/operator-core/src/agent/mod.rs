//! The agent: diagnoses open tickets and, when allowed, fixes them, verifying each fix by
//! observation.
//!
//! For each open ticket of its subject, a session ([`Agent::handle`]):
//! 1. observes the subject; a violation already clear is left for the monitor to resolve;
//! 2. gathers the context (trimmed to what the token cap leaves) and diagnoses it;
//! 3. in [`Mode::Observe`] stops there; in [`Mode::Propose`] records the actions it would run;
//! 4. in [`Mode::Execute`] runs the recommended actions that are allowed (typed: a
//!    recommendation that does not deserialize into the subject's action type is refused), then
//!    re-observes until the checker reports the violation clear on
//!    [`confirmations`](AgentConfig::confirmations) consecutive observations — the ticket is then
//!    resolved with the time it took — or until the verification deadline, when it diagnoses
//!    again and tries what it has not tried yet, within its caps;
//! 5. when nothing allowed is left to try, or a cap (steps, tokens, wall time) is reached, it
//!    escalates the ticket once, with the reason.
//!
//! The model's word never resolves anything: only an observation does. Every step is recorded in
//! the store's audit trail, and what a session concluded is persisted, so an escalated ticket is
//! never retried, even by a restarted agent.
//!
//! A session is an explicit state machine (`state.rs`: the states and what the phases share).
//! Each phase is a function returning the next state: `verify.rs` observes (first, and after
//! acting), `diagnose.rs` gathers the context and diagnoses within the caps, `plan.rs` decides
//! about each recommended action, `act.rs` runs them; `session.rs` steps through the phases and
//! records how the session ended. The [`Agent`] (`runner.rs`) runs one session per open ticket.

mod act;
mod config;
mod diagnose;
mod plan;
mod record;
mod report;
mod runner;
mod session;
mod state;
#[cfg(test)]
mod testing;
mod verify;

pub use self::config::AgentConfig;
pub use self::report::{Decision, Executed, Planned, SessionReport, Verification};
pub use self::runner::Agent;
pub use crate::ticket::{Mode, Outcome};
