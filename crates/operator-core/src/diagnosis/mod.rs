//! Diagnosis: from a [`Context`](crate::Context) to a structured [`Diagnosis`].
//!
//! A subject takes part through [`Diagnosable`], which extends [`Subject`](crate::Subject) with
//! the extra context of an incident and the subject's [`Rule`]s.
//!
//! Every diagnoser implements [`Diagnoser`], so the agent and the command line choose one at run
//! time (`Arc<dyn Diagnoser>`). The [`OfflineDiagnoser`] works from the subject's [`Rule`]s with
//! no model and no network; diagnosers that ask a model live outside this crate and validate
//! the model's answer with [`schema::parse`]. [`Fallback`] wraps a model-backed diagnoser so
//! that when it fails, or answers something invalid, the offline diagnosis is used and the report
//! says why.

mod diagnosable;
mod diagnoser;
mod fallback;
mod markdown;
mod model;
mod offline;
mod rules;
pub mod schema;

pub use self::diagnosable::Diagnosable;
pub use self::diagnoser::{DiagnoseError, DiagnoseErrorKind, Diagnoser};
pub use self::fallback::Fallback;
pub use self::model::{
    Alternative, Citation, Diagnosis, DiagnosisReport, Exchange, Recommendation, Usage,
};
pub use self::offline::OfflineDiagnoser;
pub use self::rules::{Finding, Rule, RuleInfo};
