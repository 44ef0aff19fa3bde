//! `operator monitor`: the monitor loop on the command line.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use operator_core::monitor::Active;
use operator_core::{Event, InvariantChecker, MonitorLoop, Subject, TickReport, TicketStore};
use serde_json::json;

use crate::args::{GlobalArgs, LoopArgs, NotifyArgs, RetentionArgs, TraceArgs};
use crate::args::{Profile, SubjectArgs, WithSubject};
use crate::exit::{self, CliResult};
use crate::output::{self, print_json};

/// How long queued notifications may still go out after the monitor stopped.
const NOTIFY_GRACE: Duration = Duration::from_secs(3);

/// Flags of `operator monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// How the loop observes and when alerts fire.
    #[command(flatten)]
    pub schedule: LoopArgs,
    /// Observe once, report what fails now (no pending periods), and exit 0 if healthy, 1 if not.
    #[arg(long)]
    pub once: bool,
    /// How long resolved tickets are kept.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Notifications and metrics (continuous mode).
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// OpenTelemetry export of the tick spans (installed by `main` before the command runs).
    #[command(flatten)]
    pub tracing: TraceArgs,
    /// The subject and its connection (last, so its help headings close the list).
    #[command(flatten)]
    pub target: SubjectArgs,
}

/// Runs `operator monitor`.
pub async fn run(global: &GlobalArgs, args: MonitorArgs) -> CliResult {
    let store = global.open_store()?;
    let target = args.target.clone();
    target
        .visit(Monitor {
            json: global.json,
            args,
            store,
        })
        .await?
}

struct Monitor {
    json: bool,
    args: MonitorArgs,
    store: Arc<TicketStore>,
}

impl WithSubject for Monitor {
    type Output = CliResult;

    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> CliResult
    where
        S: Subject,
        C: InvariantChecker<S::Observation>,
    {
        let config =
            self.args
                .schedule
                .config(&checker, profile, self.args.once, &self.args.retention)?;
        let mut outlets = if self.args.once {
            None
        } else {
            Some(self.args.notify.start()?)
        };
        let name = subject.name().to_owned();
        let mut monitor = MonitorLoop::new(subject, checker, self.store, config)?;
        if self.args.once {
            let report = monitor.tick().await?;
            let failing: Vec<&Active> = report.observed().collect();
            print_once(&report, &failing, self.json);
            return Ok(if failing.is_empty() {
                exit::OK
            } else {
                exit::FAILURE
            });
        }
        let interval = self.args.schedule.interval(profile);
        eprintln!(
            "operator: monitoring {name} every {} (tickets in {}); Ctrl-C to stop",
            output::duration(interval),
            monitor.store().path().display()
        );
        let json = self.json;
        let summary = monitor
            .run(operator_core::signal::shutdown_signal(), |report| {
                for event in &report.events {
                    print_event(report, event, json);
                }
                if let Some(o) = &mut outlets {
                    o.tick(report);
                }
            })
            .await;
        if let Some(o) = outlets {
            o.finish(tokio::time::sleep(NOTIFY_GRACE)).await;
        }
        eprintln!(
            "operator: stopped after {} observations ({} failed)",
            summary.ticks, summary.failed_observations
        );
        Ok(exit::OK)
    }
}

fn violation_json(a: &Active) -> serde_json::Value {
    json!({
        "invariant": a.violation.invariant,
        "entity": a.violation.entity,
        "severity": a.violation.severity,
        "message": a.violation.message,
        "since": a.since,
        "ticket": a.ticket,
        "evidence": a.violation.evidence,
    })
}

/// `--once` prints what fails now: violations this observation saw (immediate mode fires them
/// all), not alerts left open by an earlier run that this one could not evaluate.
fn print_once(report: &TickReport, failing: &[&Active], json: bool) {
    if json {
        print_json(&json!({
            "subject": report.subject,
            "observed_at": report.observed_at,
            "healthy": failing.is_empty(),
            "violations": failing.iter().map(|a| violation_json(a)).collect::<Vec<_>>(),
        }));
        return;
    }
    let at = output::ts(report.observed_at);
    if failing.is_empty() {
        println!("{} at {at}: healthy", report.subject);
        return;
    }
    let n = failing.len();
    println!(
        "{} at {at}: {n} violation{}",
        report.subject,
        if n == 1 { "" } else { "s" }
    );
    for a in failing {
        let ticket = a
            .ticket
            .map(|t| format!(", ticket #{t}"))
            .unwrap_or_default();
        println!(
            "  {:<8} {:<28} {} (since {}{ticket})",
            a.violation.severity,
            output::what_violation(&a.violation),
            a.violation.message,
            output::ts(a.since)
        );
    }
}

fn print_event(report: &TickReport, event: &Event, json: bool) {
    let at = report.observed_at;
    if json {
        let mut line = match event {
            Event::Opened {
                ticket,
                violation,
                since,
            } => json!({
                "event": "opened", "ticket": ticket, "invariant": violation.invariant, "entity": violation.entity,
                "severity": violation.severity, "message": violation.message, "since": since,
                "evidence": violation.evidence,
            }),
            Event::Escalated {
                ticket,
                from,
                violation,
            } => json!({
                "event": "escalated", "ticket": ticket, "invariant": violation.invariant, "entity": violation.entity,
                "from": from, "severity": violation.severity, "message": violation.message,
            }),
            Event::Resolved { ticket, key } => json!({
                "event": "resolved", "ticket": ticket, "invariant": key.invariant, "entity": key.entity,
            }),
            Event::ClearedWhileHeld { ticket, key } => json!({
                "event": "cleared_while_held", "ticket": ticket, "invariant": key.invariant, "entity": key.entity,
            }),
        };
        line["at"] = json!(at);
        line["subject"] = json!(report.subject);
        print_json(&line);
        return;
    }
    let at = output::ts(at);
    let subject = &report.subject;
    match event {
        Event::Opened {
            ticket, violation, ..
        } => println!(
            "{at} {subject} OPENED    #{ticket} {} {}: {}",
            violation.severity,
            output::what_violation(violation),
            violation.message
        ),
        Event::Escalated {
            ticket,
            from,
            violation,
        } => println!(
            "{at} {subject} ESCALATED #{ticket} {from} -> {} {}: {}",
            violation.severity,
            output::what_violation(violation),
            violation.message
        ),
        Event::Resolved { ticket, key } => {
            println!(
                "{at} {subject} RESOLVED  #{ticket} {}",
                output::what(&key.invariant, key.entity.as_deref())
            );
        }
        Event::ClearedWhileHeld { ticket, key } => println!(
            "{at} {subject} CLEARED   #{ticket} {} (held: stays open)",
            output::what(&key.invariant, key.entity.as_deref())
        ),
    }
}
