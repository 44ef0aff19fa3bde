//! [`Fallback`]: a model-backed diagnoser that falls back to the offline one.

use async_trait::async_trait;

use super::diagnoser::{DiagnoseError, Diagnoser};
use super::model::DiagnosisReport;
use super::offline::OfflineDiagnoser;
use crate::context::Context;

/// Asks `primary`; when it fails or answers something invalid, diagnoses offline and says why in
/// [`DiagnosisReport::fallback`] (keeping the failed exchanges and their token usage).
pub struct Fallback {
    primary: Box<dyn Diagnoser>,
    offline: OfflineDiagnoser,
}

impl Fallback {
    /// `primary`, falling back to `offline`.
    pub fn new(primary: Box<dyn Diagnoser>, offline: OfflineDiagnoser) -> Self {
        Self { primary, offline }
    }
}

#[async_trait]
impl Diagnoser for Fallback {
    fn name(&self) -> String {
        self.primary.name()
    }

    async fn diagnose(&self, context: &Context) -> Result<DiagnosisReport, DiagnoseError> {
        match self.primary.diagnose(context).await {
            Ok(report) => Ok(report),
            Err(e) => {
                tracing::warn!(ticket = context.ticket.id, diagnoser = %self.primary.name(), error = %e, "diagnosis failed; using the offline diagnosis");
                let mut report = self.offline.diagnose_now(context);
                report.fallback = Some(format!("{} failed: {}", self.primary.name(), e.message));
                report.usage = e.usage;
                report.exchanges = e.exchanges;
                Ok(report)
            }
        }
    }
}
