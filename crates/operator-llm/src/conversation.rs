//! The conversation both protocols hold with a model: ask, validate the answer against the
//! diagnosis schema and the subject's declared actions, and, when it is invalid, send the
//! problems back and ask again (up to `repair_attempts` times).

use chrono::Utc;
use operator_core::Context;
use operator_core::diagnosis::{
    DiagnoseError, DiagnoseErrorKind, DiagnosisReport, Exchange, Usage, schema,
};
use serde_json::{Value, json};

use crate::error::Error;
use crate::prompt;
use crate::retry::Endpoint;

/// Holds the conversation on `endpoint`, starting from `messages`. `body` turns the messages
/// into the provider's request body; `read_answer` reads `(text, usage)` from its answer.
///
/// # Errors
/// [`DiagnoseErrorKind::Unavailable`] or [`DiagnoseErrorKind::Rejected`] when a request fails,
/// [`DiagnoseErrorKind::InvalidOutput`] when no answer validates; every exchange is attached.
pub(crate) async fn converse(
    endpoint: &Endpoint<'_>,
    diagnoser: String,
    ctx: &Context,
    mut messages: Vec<Value>,
    body: impl Fn(&[Value]) -> Value,
    read_answer: fn(&str) -> Result<(String, Usage), Error>,
) -> Result<DiagnosisReport, DiagnoseError> {
    let provider = endpoint.provider;
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut usage = Usage::default();
    let mut problems = Vec::new();
    for _ in 0..=endpoint.config.repair_attempts {
        let answer = endpoint
            .post(&body(&messages), &mut exchanges)
            .await
            .and_then(|b| read_answer(&b));
        let (text, used) = match answer {
            Ok(a) => a,
            Err(e) => {
                let kind = if e.is_transient() {
                    DiagnoseErrorKind::Unavailable
                } else {
                    DiagnoseErrorKind::Rejected
                };
                return Err(DiagnoseError::new(kind, format!("{provider}: {e}"))
                    .with_exchanges(exchanges, usage));
            }
        };
        usage.add(used);
        match schema::parse(&text, &ctx.actions) {
            Ok(diagnosis) => {
                return Ok(DiagnosisReport {
                    ticket: ctx.ticket.id,
                    at: Utc::now(),
                    diagnoser,
                    rule: None,
                    fallback: None,
                    usage,
                    diagnosis,
                    exchanges,
                });
            }
            Err(p) => {
                tracing::warn!(provider, problems = %p.join("; "), "invalid diagnosis from the model");
                messages.push(json!({"role": "assistant", "content": text}));
                messages.push(json!({"role": "user", "content": prompt::repair(&p)}));
                problems = p;
            }
        }
    }
    Err(DiagnoseError::new(
        DiagnoseErrorKind::InvalidOutput,
        format!(
            "{provider}: the model's answer is not a valid diagnosis: {}",
            problems.join("; ")
        ),
    )
    .with_exchanges(exchanges, usage))
}
