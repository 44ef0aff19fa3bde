//! What a rule reads from its [`Context`]: the observations it holds (decoded), the freshest
//! one, the tickets open at the same time, the ticket's evidence.

use chrono::{DateTime, Utc};
use operator_core::Context;
use operator_core::context::{Phase, RelatedTicket};
use serde_json::Value;

use crate::error::ErrorKind;
use crate::observation::Observation;

/// The observations of the context, with their index in `context.observations`.
pub(crate) fn observations(ctx: &Context) -> Vec<(usize, DateTime<Utc>, Phase, Observation)> {
    ctx.observations
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            serde_json::from_value::<Observation>(e.observation.clone())
                .ok()
                .map(|o| (i, e.at, e.phase, o))
        })
        .collect()
}

/// The freshest observation, with its index.
pub(crate) fn latest(ctx: &Context) -> Option<(usize, Observation)> {
    observations(ctx).pop().map(|(i, _, _, o)| (i, o))
}

/// Open-at-the-same-time tickets of `invariant`.
pub(crate) fn concurrent<'a>(ctx: &'a Context, invariant: &'a str) -> Vec<&'a RelatedTicket> {
    ctx.concurrent_with(invariant).collect()
}

/// A string field of the ticket's evidence.
pub(crate) fn evidence_str<'a>(ctx: &'a Context, field: &str) -> Option<&'a str> {
    ctx.ticket.evidence.get(field).and_then(|v| v.as_str())
}

/// The `error_kind` field of a ticket's evidence, when it has one.
pub(crate) fn error_kind(evidence: &Value) -> Option<ErrorKind> {
    serde_json::from_value(evidence.get("error_kind")?.clone()).ok()
}
