//! The [`Diagnoser`] trait, and how a diagnoser fails ([`DiagnoseError`]).

use async_trait::async_trait;

use super::model::{DiagnosisReport, Exchange, Usage};
use crate::context::Context;

/// Produces a diagnosis from a context document.
#[async_trait]
pub trait Diagnoser: Send + Sync {
    /// Who it is, as recorded with its diagnoses (`offline`, `anthropic/<model>`...).
    fn name(&self) -> String;

    /// Diagnoses the ticket the context is about.
    ///
    /// # Errors
    /// When no valid diagnosis could be obtained; the error keeps the exchanges made, for the
    /// audit trail.
    async fn diagnose(&self, context: &Context) -> Result<DiagnosisReport, DiagnoseError>;
}

/// Why a diagnoser produced no diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnoseErrorKind {
    /// The model could not be reached or kept failing (after retries).
    Unavailable,
    /// It answered, but not with a valid diagnosis.
    InvalidOutput,
    /// The request was refused as malformed or unauthorized: retrying cannot help.
    Rejected,
}

/// A diagnoser's failure, with the exchanges made before it gave up.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DiagnoseError {
    /// What kind of failure.
    pub kind: DiagnoseErrorKind,
    /// What happened, in one line.
    pub message: String,
    /// Requests and answers, for the audit trail.
    pub exchanges: Vec<Exchange>,
    /// Tokens consumed anyway.
    pub usage: Usage,
}

impl DiagnoseError {
    /// A failure of `kind`.
    pub fn new(kind: DiagnoseErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            exchanges: Vec::new(),
            usage: Usage::default(),
        }
    }

    /// Attaches the exchanges made.
    #[must_use]
    pub fn with_exchanges(mut self, exchanges: Vec<Exchange>, usage: Usage) -> Self {
        self.exchanges = exchanges;
        self.usage = usage;
        self
    }
}
