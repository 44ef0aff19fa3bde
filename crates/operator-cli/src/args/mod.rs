//! The argument groups that commands flatten into their flags, each turning its flags into the
//! libraries' configuration (and naming the flag when a value is bad).
//!
//! - [`global`]: [`GlobalArgs`], the options of every command, and the ticket store they name.
//! - [`subject`]: [`SubjectArgs`], `--subject` and each subject's connection flags, and
//!   [`WithSubject`], the one place that states the generic bounds a command is written against.
//! - [`env`](mod@env): [`EnvArgs`] (`--env local|compose`) and [`ComposeArgs`], the compose flags.
//! - [`stack`]: [`StateDirArgs`], [`StackArgs`] (ports, failure mode, policies) and the
//!   binaries a local stack runs.
//! - [`eval`]: [`EvalArgs`](eval::EvalArgs), the flags of `operator eval`.
//! - [`diagnosis`]: [`DiagnosisArgs`], who diagnoses and with what budget.
//! - [`retention`]: [`RetentionArgs`], how long resolved tickets are kept.
//! - [`monitor_loop`]: [`LoopArgs`], the monitor loop's interval, timeout and alert timings
//!   (`monitor` and `dashboard`).
//! - [`notify`]: [`NotifyArgs`], notifications (Alertmanager, webhooks) and the operator's own
//!   metrics.
//! - [`tracing`](mod@tracing): [`TraceArgs`], OpenTelemetry export of the monitor's tick spans.
//!
//! Every default a flag shows is the library's `Default`, rendered by [`default_text`].

pub mod default_text;
pub mod diagnosis;
pub mod env;
pub mod eval;
pub mod global;
pub mod monitor_loop;
pub mod notify;
pub mod retention;
pub mod stack;
pub mod subject;
pub mod tracing;

pub use self::diagnosis::DiagnosisArgs;
pub use self::env::{ComposeArgs, EnvArgs};
pub use self::global::GlobalArgs;
pub use self::monitor_loop::LoopArgs;
pub use self::notify::NotifyArgs;
pub use self::retention::RetentionArgs;
pub use self::stack::{StackArgs, StateDirArgs};
pub use self::subject::{Profile, SubjectArgs, WithSubject, from_ticket};
pub use self::tracing::TraceArgs;
