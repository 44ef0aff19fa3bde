//! What the model is told: the same instructions and document for every provider.
//!
//! The system prompt says what a diagnosis is and gives its JSON schema, with the recommended
//! actions constrained to the subject's declared ones; the user message is the context document
//! as JSON (already redacted and trimmed by the caller). Nothing else of the operator's state, and
//! no secret, is ever sent.

use operator_core::Context;
use operator_core::diagnosis::schema::json_schema;

/// The instructions, with the JSON schema of the answer.
pub fn system(ctx: &Context) -> String {
    let schema = serde_json::to_string_pretty(&json_schema(&ctx.actions)).unwrap_or_default();
    format!(
        "You are a site reliability engineer diagnosing an incident on `{subject}`, a system \
         watched by an automated operator. The user message is the incident's context document \
         (JSON): the ticket with its violation and evidence, the subject's description, the \
         invariant that was violated, what a fresh observation shows now, the observations \
         before and during the incident, the other tickets open at the same time, similar past \
         tickets and how they ended, the subject's extra material, and the actions the subject \
         declares.\n\n\
         Find the most probable root cause. Rely only on the document: cite the facts you use \
         as `source` (a dotted path into the document, e.g. `ticket.evidence.error` or \
         `observations[3].observation.nodes[1]`) and `detail` (the fact). Say which other \
         causes you considered and why the evidence rules them out. Recommend only actions \
         listed in `actions`, by name, with exactly their parameters in `args`; recommend none \
         when no declared action addresses the cause (a human will act). Name the risks of \
         acting. `confidence` is between 0 and 1.\n\n\
         Answer with one JSON object and nothing else, following this JSON schema:\n{schema}",
        subject = ctx.subject.name,
    )
}

/// The context document, as the user message.
pub fn user(ctx: &Context) -> String {
    format!(
        "Context document of ticket #{} (JSON):\n{}",
        ctx.ticket.id,
        serde_json::to_string(ctx).unwrap_or_default()
    )
}

/// What is sent back after an invalid answer.
pub fn repair(problems: &[String]) -> String {
    format!(
        "Your answer is not a valid diagnosis:\n- {}\nAnswer again with only the corrected JSON \
         object.",
        problems.join("\n- ")
    )
}
