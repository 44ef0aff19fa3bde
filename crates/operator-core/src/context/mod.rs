//! The context of an incident: one document with everything needed to diagnose a ticket.
//!
//! [`gather`] assembles it from the ticket store and the subject: the violation and its evidence;
//! the subject's description, its invariants' documentation and its declared actions; what the
//! subject looks like now; the observations stored with the ticket when it opened or escalated
//! (the history before the incident and during it) and the caller's recent ones; the other
//! tickets open on the same subject at the same time; similar past tickets and how they ended;
//! and whatever extra material the subject supplies through [`Diagnosable::context`].
//!
//! Secrets are redacted from every string of the document ([`redact`]), and
//! [`Context::trim`] brings it under a size budget by dropping whole entries, least useful first,
//! and saying what it dropped: no value is ever cut in the middle.
//!
//! [`Diagnosable::context`]: crate::Diagnosable::context

mod budget;
mod document;
mod gather;
mod markdown;
pub mod redact;

pub use self::document::{
    Context, ContextSection, ObservationEntry, PastTicket, Phase, RelatedTicket, SubjectSection,
};
pub use self::gather::{ContextConfig, gather};
pub use crate::assess::Now;
