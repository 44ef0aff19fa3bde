//! A diagnosis report as Markdown.

use std::fmt::Write as _;

use super::model::DiagnosisReport;

impl DiagnosisReport {
    /// The report as readable Markdown.
    pub fn to_markdown(&self) -> String {
        report(self)
    }
}

fn report(r: &DiagnosisReport) -> String {
    let d = &r.diagnosis;
    let mut o = String::new();
    let _ = writeln!(o, "# Diagnosis of ticket #{} ({})\n", r.ticket, r.diagnoser);
    if let Some(why) = &r.fallback {
        let _ = writeln!(
            o,
            "> **Offline diagnosis used instead of the model:** {why}\n"
        );
    }
    let _ = writeln!(o, "{}\n", d.summary);
    let _ = writeln!(
        o,
        "**Root cause** (confidence {:.0}%): {}\n",
        d.confidence * 100.0,
        d.root_cause
    );
    if let Some(rule) = &r.rule {
        let _ = writeln!(o, "Rule: `{rule}`\n");
    }
    let _ = writeln!(o, "## Evidence\n");
    for c in &d.evidence {
        let _ = writeln!(o, "- `{}`: {}", c.source, c.detail);
    }
    let _ = writeln!(o, "\n## Alternatives considered\n");
    if d.alternatives.is_empty() {
        let _ = writeln!(o, "None.");
    }
    for a in &d.alternatives {
        let _ = writeln!(o, "- {} — rejected: {}", a.cause, a.rejected_because);
    }
    let _ = writeln!(o, "\n## Recommended actions\n");
    if d.actions.is_empty() {
        let _ = writeln!(
            o,
            "None of the subject's declared actions addresses this cause: it needs a human."
        );
    }
    for (i, a) in d.actions.iter().enumerate() {
        let _ = writeln!(o, "{}. `{}` — {}", i + 1, a.wire(), a.reason);
    }
    let _ = writeln!(o, "\n## Risks\n");
    if d.risks.is_empty() {
        let _ = writeln!(o, "None noted.");
    }
    for risk in &d.risks {
        let _ = writeln!(o, "- {risk}");
    }
    if r.usage.total() > 0 {
        let _ = writeln!(
            o,
            "\nTokens: {} in, {} out.",
            r.usage.input_tokens, r.usage.output_tokens
        );
    }
    o
}
