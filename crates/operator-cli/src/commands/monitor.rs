//! `operator monitor`: the monitor loop on the command line.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use operator_core::alert::Timing;
use operator_core::monitor::{Active, SUBJECT_UNREACHABLE};
use operator_core::{
    Event, InvariantChecker, MonitorConfig, MonitorLoop, Subject, TickReport, TicketStore,
};
use serde_json::json;

use crate::args::{GlobalArgs, NotifyArgs, RetentionArgs};
use crate::args::{Profile, SubjectArgs, WithSubject};
use crate::exit::{self, CliError, CliResult};
use crate::output::{self, print_json};

/// How long queued notifications may still go out after the monitor stopped.
const NOTIFY_GRACE: Duration = Duration::from_secs(3);

/// Flags of `operator monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Time between observations, e.g. `500ms`, `5s` [default: the subject's]
    #[arg(long, env = "OPERATOR_INTERVAL", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Longest an observation may take before it counts as failed (`subject_unreachable`)
    /// [default: the subject's]
    #[arg(long, env = "OPERATOR_OBSERVE_TIMEOUT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Observe once, report what fails now (no pending periods), and exit 0 if healthy, 1 if not.
    #[arg(long)]
    pub once: bool,
    /// Override an invariant's pending period (how long it must hold before firing), e.g.
    /// `high_latency=30s`. Repeatable.
    #[arg(long, value_parser = parse_timing, value_name = "INVARIANT=DURATION")]
    pub pending: Vec<(String, Duration)>,
    /// Override an invariant's keep-firing period (how long it stays firing after clearing), e.g.
    /// `node_down=10s`. Repeatable.
    #[arg(long, value_parser = parse_timing, value_name = "INVARIANT=DURATION")]
    pub keep_firing: Vec<(String, Duration)>,
    /// How long resolved tickets are kept.
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Notifications and metrics (continuous mode).
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// The subject and its connection (last, so its help headings close the list).
    #[command(flatten)]
    pub target: SubjectArgs,
}

fn parse_timing(s: &str) -> Result<(String, Duration), String> {
    let (name, d) = s
        .split_once('=')
        .ok_or_else(|| format!("expected INVARIANT=DURATION, got {s:?}"))?;
    if name.is_empty() {
        return Err("missing invariant name before '='".into());
    }
    let d = humantime::parse_duration(d).map_err(|e| format!("{d:?}: {e}"))?;
    Ok((name.to_owned(), d))
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
        let config = self.config(&checker, profile)?;
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
        let interval = self.args.interval.unwrap_or(profile.interval);
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

impl Monitor {
    fn config<O, C: InvariantChecker<O>>(
        &self,
        checker: &C,
        profile: Profile,
    ) -> Result<MonitorConfig, CliError> {
        let mut config = MonitorConfig::default()
            .interval(self.args.interval.unwrap_or(profile.interval))
            .observe_timeout(self.args.timeout.unwrap_or(profile.observe_timeout))
            .immediate(self.args.once)
            .retention(self.args.retention.retention.0);
        let mut specs = checker.invariants();
        specs.push(operator_core::InvariantSpec::new(SUBJECT_UNREACHABLE, ""));
        let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for (flag, overrides) in [
            ("--pending", &self.args.pending),
            ("--keep-firing", &self.args.keep_firing),
        ] {
            for (name, d) in overrides {
                let Some(spec) = specs.iter().find(|s| &s.name == name) else {
                    return Err(CliError::flag(
                        flag,
                        format!("unknown invariant {name:?} (known: {})", known.join(", ")),
                    ));
                };
                let mut t = config
                    .timing_overrides
                    .get(name)
                    .copied()
                    .unwrap_or(Timing {
                        pending: spec.pending,
                        keep_firing: spec.keep_firing,
                    });
                if flag == "--pending" {
                    t.pending = *d;
                } else {
                    t.keep_firing = *d;
                }
                config = config.timing(name.clone(), t);
            }
        }
        config
            .validate()
            .map_err(|e| CliError::flag("--interval/--timeout", e))?;
        Ok(config)
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

#[cfg(test)]
mod tests {
    use super::parse_timing;

    #[test]
    fn timing_overrides_parse() {
        assert_eq!(
            parse_timing("node_down=10s").unwrap(),
            ("node_down".into(), std::time::Duration::from_secs(10))
        );
        assert!(parse_timing("node_down").is_err());
        assert!(parse_timing("=1s").is_err());
        assert!(parse_timing("x=soon").is_err());
    }
}
