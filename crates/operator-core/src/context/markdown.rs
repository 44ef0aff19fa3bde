//! The context document as Markdown, for a terminal or a ticket system.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::document::Context;
use crate::assess::Status;

impl Context {
    /// The document as readable Markdown.
    pub fn to_markdown(&self) -> String {
        context(self)
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn what(invariant: &str, entity: Option<&str>) -> String {
    match entity {
        Some(e) => format!("{invariant}[{e}]"),
        None => invariant.to_owned(),
    }
}

/// `value` as a fenced JSON block, pretty unless `compact`.
fn json_block(out: &mut String, value: &Value, compact: bool) {
    let text = if compact {
        value.to_string()
    } else {
        serde_json::to_string_pretty(value).unwrap_or_default()
    };
    let _ = writeln!(out, "```json\n{text}\n```");
}

fn context(c: &Context) -> String {
    let mut o = String::new();
    ticket(&mut o, c);
    now(&mut o, c);
    subject(&mut o, c);
    concurrent(&mut o, c);
    similar(&mut o, c);
    actions(&mut o, c);
    history(&mut o, c);
    rest(&mut o, c);
    o
}

/// The ticket: what, how bad, since when, and its evidence.
fn ticket(o: &mut String, c: &Context) {
    let t = &c.ticket;
    let _ = writeln!(
        o,
        "# Context of ticket #{}: {} on {}\n",
        t.id,
        what(&t.invariant, t.entity.as_deref()),
        t.subject
    );
    let _ = writeln!(
        o,
        "- **{}**, {}{}; seen {} times, first {}, last {}",
        t.severity,
        t.status,
        if t.held { " (held)" } else { "" },
        t.occurrences,
        ts(t.first_seen),
        ts(t.last_seen)
    );
    if let (Some(at), Some(how)) = (t.resolved_at, &t.resolution) {
        let _ = writeln!(o, "- resolved {} ({how})", ts(at));
    }
    let _ = writeln!(o, "- message: {}\n", t.message);
    let _ = writeln!(o, "## Evidence\n");
    json_block(o, &t.evidence, false);
}

/// What a fresh observation says, when there is one.
fn now(o: &mut String, c: &Context) {
    if let Some(now) = &c.now {
        let _ = writeln!(o, "\n## Now ({})\n", ts(now.at));
        match &now.error {
            Some(e) => {
                let _ = writeln!(o, "The subject could not be observed: {e}");
            }
            None => {
                let said = match now.status {
                    Status::Violated => "The violation **still holds**.",
                    Status::Clear => "The violation is **no longer observed**.",
                    Status::Unknown => "This observation **could not evaluate** the violation.",
                };
                let _ = writeln!(o, "{said}");
            }
        }
        if !now.violations.is_empty() {
            let _ = writeln!(o, "\nViolations seen now:");
            for v in &now.violations {
                let _ = writeln!(
                    o,
                    "- {} {}: {}",
                    v.severity,
                    what(&v.invariant, v.entity.as_deref()),
                    v.message
                );
            }
        }
    }
}

/// The subject and the ticket's invariant, as they describe themselves.
fn subject(o: &mut String, c: &Context) {
    let _ = writeln!(
        o,
        "\n## Subject `{}`\n\n{}",
        c.subject.name, c.subject.description
    );
    if let Some(spec) = &c.invariant {
        let _ = writeln!(
            o,
            "\n## Invariant `{}`\n\n{}\n\nPending {} ms, keep-firing {} ms.",
            spec.name,
            spec.description,
            spec.pending.as_millis(),
            spec.keep_firing.as_millis()
        );
    }
}

/// The other tickets open at the same time.
fn concurrent(o: &mut String, c: &Context) {
    let _ = writeln!(o, "\n## Other tickets open at the same time\n");
    if c.concurrent.is_empty() {
        let _ = writeln!(o, "None.");
    }
    for r in &c.concurrent {
        let resolved = r
            .resolved_at
            .map(|at| format!(", resolved {}", ts(at)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "- #{} {} {} ({}, since {}{resolved}): {}",
            r.id,
            r.severity,
            what(&r.invariant, r.entity.as_deref()),
            r.status,
            ts(r.first_seen),
            r.message
        );
    }
}

/// Earlier tickets of the same invariant, and how they ended.
fn similar(o: &mut String, c: &Context) {
    let _ = writeln!(o, "\n## Similar past tickets\n");
    if c.similar.is_empty() {
        let _ = writeln!(o, "None.");
    }
    for p in &c.similar {
        let ended = match (&p.resolved_at, &p.resolution) {
            (Some(at), Some(how)) => format!("resolved {} ({how})", ts(*at)),
            _ => "not resolved".to_owned(),
        };
        let _ = write!(
            o,
            "- #{} {}{} first seen {}, {ended}: {}",
            p.id,
            p.severity,
            p.entity
                .as_deref()
                .map(|e| format!(" [{e}]"))
                .unwrap_or_default(),
            ts(p.first_seen),
            p.message
        );
        if let Some(cause) = &p.diagnosed_cause {
            let _ = write!(o, " — diagnosed: {cause}");
        }
        if !p.actions_taken.is_empty() {
            let _ = write!(o, " — actions: {}", p.actions_taken.join(", "));
        }
        let _ = writeln!(o);
    }
}

/// The actions the subject declares.
fn actions(o: &mut String, c: &Context) {
    let _ = writeln!(o, "\n## Declared actions\n");
    if c.actions.is_empty() {
        let _ = writeln!(o, "None: this subject declares no remediation action.");
    }
    for a in &c.actions {
        let params: Vec<String> = a
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, p.kind))
            .collect();
        let _ = writeln!(
            o,
            "- `{}({})`{}: {}",
            a.name,
            params.join(", "),
            if a.idempotent {
                ""
            } else {
                " (not idempotent)"
            },
            a.description
        );
    }
}

/// The ticket's log and the observations, oldest first.
fn history(o: &mut String, c: &Context) {
    let _ = writeln!(o, "\n## Ticket log\n");
    for e in &c.timeline {
        let _ = writeln!(o, "- {} {}: {}", ts(e.at), e.kind, e.detail);
    }

    let _ = writeln!(
        o,
        "\n## Observations ({}, oldest first)\n",
        c.observations.len()
    );
    for e in &c.observations {
        let offset = (e.at - c.ticket.first_seen).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(
            o,
            "### {} · {} ({offset:+.1} s from first seen)\n",
            ts(e.at),
            e.phase.as_str()
        );
        json_block(o, &e.observation, true);
    }
}

/// The subject's extra sections, its other invariants, and what was trimmed.
fn rest(o: &mut String, c: &Context) {
    for s in &c.extra {
        let _ = writeln!(o, "\n## {} — {}\n", s.name, s.about);
        json_block(o, &s.value, false);
    }

    if !c.other_invariants.is_empty() {
        let _ = writeln!(o, "\n## Other invariants of `{}`\n", c.subject.name);
        for s in &c.other_invariants {
            let _ = writeln!(o, "- `{}`: {}", s.name, s.description);
        }
    }
    if !c.trimmed.is_empty() {
        let _ = writeln!(o, "\n## Trimmed to fit the budget\n");
        for n in &c.trimmed {
            let _ = writeln!(o, "- {n}");
        }
    }
}
