//! `operator eval` as a library: repeated fault trials on a stack the caller brought up, each
//! judged against what its fault expects, summed up as a win rate, MTTD and MTTR distributions,
//! diagnoses right and false tickets.
//!
//! The running context is the demo's: steady load on the bench engine and the rate limiter's
//! [`MonitorLoop`](operator_core::MonitorLoop) driven in-process on its usual interval, so every
//! time is measured here, between the instant a fault took effect and the tick that saw it. A
//! soak (a healthy run under load, counting the tickets it opens: false ones) may come first.
//! Then each trial of each fault ([`Fault::expectation`](crate::Fault::expectation) says what
//! it expects):
//!
//! 1. the stack is healthy (nothing firing);
//! 2. the fault is injected (and its own verifications run);
//! 3. the expected ticket opens: MTTD, from the instant the fault took effect;
//! 4. its offline diagnosis is checked against the expected cause (the rule's id);
//! 5. the agent, when there is one, handles it (in execute mode it runs the allowed actions
//!    and verifies them); what it did not repair, the fault's undo repairs;
//! 6. the ticket resolves by re-observation: MTTR, from the ticket opening;
//! 7. cleanup: the undo if it has not run, the stack verified whole, every ticket resolved.
//!
//! A self-healing fault (`drop-policies`, `script-flush`, `restart-node`) expects its heal
//! verified and no lasting ticket. Tickets neither expected nor a declared side effect are
//! false tickets; any of them loses the trial. A lost trial keeps its timeline.
//!
//! Layout: `config` ([`EvalConfig`], the default faults and agent), `run` ([`run`] and the
//! soak), `trial` (one trial, measured), [`verdict`] (the pure judgment), [`stats`]
//! (median, p90, max), [`report`] (records, summaries, tables), `timeline` (the narration kept
//! per trial).

mod config;
pub mod report;
mod run;
pub mod stats;
mod timeline;
mod trial;
pub mod verdict;

pub use config::{EvalConfig, SAFE_ACTIONS, default_agent, default_faults, parse_faults};
pub use report::{EvalReport, FaultSummary, Settings, TrialRecord};
pub use run::{Progress, run};
pub use stats::Distribution;
pub use verdict::{TrialFacts, Verdict};
