//! `operator agent`: diagnose open tickets and, in execute mode, fix them and verify the fixes.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use operator_core::agent::{Outcome, SessionReport};
use operator_core::{
    Agent, AgentConfig, Diagnosable, InvariantChecker, Mode, MonitorConfig, MonitorLoop, Ticket,
    TicketStore,
};

use crate::args::GlobalArgs;
use crate::args::{DiagnosisArgs, NotifyArgs, RetentionArgs, default_text};
use crate::args::{Profile, SubjectArgs, WithSubject};
use crate::exit::{self, CliError, CliResult};
use crate::output::{self, print_json};

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Diagnose and record; change nothing.
    Observe,
    /// Diagnose and record the actions it would run; change nothing.
    Propose,
    /// Run the recommended actions listed in --allow, verify, resolve or escalate.
    Execute,
}

impl From<Mode> for ModeArg {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Observe => ModeArg::Observe,
            Mode::Propose => ModeArg::Propose,
            Mode::Execute => ModeArg::Execute,
        }
    }
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Observe => Mode::Observe,
            ModeArg::Propose => Mode::Propose,
            ModeArg::Execute => Mode::Execute,
        }
    }
}

/// Flags of `operator agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// How far the agent goes.
    #[arg(long, value_enum, default_value_t = AgentConfig::default().mode.into())]
    pub mode: ModeArg,
    /// An action the agent may run in execute mode (repeatable or comma-separated). None is
    /// allowed by default: every recommendation is then escalated instead of run.
    #[arg(long, value_delimiter = ',', value_name = "ACTION")]
    pub allow: Vec<String>,
    /// One pass over the open tickets, then exit: 0, or 1 if a ticket was escalated.
    #[arg(long)]
    pub once: bool,
    /// One session on this ticket only, then exit (as --once): 0, or 1 if it was escalated. The
    /// subject is the ticket's, so --subject may be left out.
    #[arg(long, value_name = "ID")]
    pub ticket: Option<i64>,
    /// Time between passes (and monitor observations) in continuous mode [default: the
    /// subject's]
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Actions run per ticket, at most.
    #[arg(long, default_value_t = AgentConfig::default().max_steps, value_name = "N")]
    pub max_steps: u64,
    /// Model tokens spent per ticket, at most (the context sent is trimmed to fit).
    #[arg(long, default_value_t = AgentConfig::default().max_tokens, value_name = "N")]
    pub max_tokens: u64,
    /// Wall time spent per ticket, at most, verification included.
    #[arg(long, default_value = default_text::duration(AgentConfig::default().max_time), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub max_time: Duration,
    /// How long to wait for a violation to clear after acting before escalating.
    #[arg(long, default_value = default_text::duration(AgentConfig::default().verify_timeout), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub verify_timeout: Duration,
    /// Time between the observations that verify a fix.
    #[arg(long, default_value = default_text::duration(AgentConfig::default().verify_interval), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub verify_interval: Duration,
    /// How to diagnose.
    #[command(flatten)]
    pub diagnosis: DiagnosisArgs,
    /// How long resolved tickets are kept (in continuous mode, which runs the monitor).
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Notifications and metrics (continuous mode: the monitor's tickets and the agent's
    /// resolutions and escalations).
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// The subject and its connection (last, so its help headings close the list).
    #[command(flatten)]
    pub target: SubjectArgs,
}

impl AgentArgs {
    /// The agent's configuration: these flags, on the subject's observation bound.
    fn config(&self, profile: Profile) -> AgentConfig {
        let mut config = AgentConfig::default()
            .mode(self.mode.into())
            .max_steps(self.max_steps)
            .max_tokens(self.max_tokens)
            .max_time(self.max_time)
            .verify_timeout(self.verify_timeout)
            .verify_interval(self.verify_interval)
            .observe_timeout(profile.observe_timeout);
        config.context = self.diagnosis.context();
        for a in self
            .allow
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
        {
            config = config.allow(a);
        }
        if config.mode != Mode::Execute && !config.allow.is_empty() {
            tracing::warn!("--allow has no effect outside --mode execute");
        }
        config
    }
}

/// Runs `operator agent`.
///
/// With `--ticket`, the subject is the ticket's; a `--subject` that disagrees is a usage error.
pub async fn run(global: &GlobalArgs, args: AgentArgs) -> CliResult {
    let store = global.open_store()?;
    let mut target = args.target.clone();
    let ticket = match args.ticket {
        Some(id) => {
            let ticket = store
                .call(move |s| s.get(id))
                .await
                .map_err(exit::ticket_lookup)?;
            target.for_ticket(id, &ticket.subject)?;
            Some(ticket)
        }
        None => None,
    };
    target
        .visit(AgentRun {
            json: global.json,
            args,
            store,
            ticket,
        })
        .await?
}

struct AgentRun {
    json: bool,
    args: AgentArgs,
    store: Arc<TicketStore>,
    /// The one ticket to handle (`--ticket`).
    ticket: Option<Ticket>,
}

impl WithSubject for AgentRun {
    type Output = CliResult;

    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> CliResult
    where
        S: Diagnosable,
        C: InvariantChecker<S::Observation>,
    {
        let AgentRun {
            json,
            args,
            store,
            ticket,
        } = self;
        let diagnoser = args.diagnosis.diagnoser(subject.rules())?;
        let config = args.config(profile);
        let mut agent: Agent<S> = Agent::new(Arc::clone(&store), diagnoser, config)
            .map_err(|e| CliError::flag("--allow", e))?;

        if let Some(ticket) = ticket {
            let report = agent.handle(&subject, &checker, &ticket).await?;
            print_session(&report, json);
            let escalated = report.outcome == Outcome::Escalated;
            return Ok(if escalated { exit::FAILURE } else { exit::OK });
        }
        if args.once {
            let reports = agent.pass(&subject, &checker).await?;
            for r in &reports {
                print_session(r, json);
            }
            let escalated = reports.iter().any(|r| r.outcome == Outcome::Escalated);
            return Ok(if escalated { exit::FAILURE } else { exit::OK });
        }

        let interval = args.interval.unwrap_or(profile.interval);
        let mut outlets = args.notify.start()?;
        let monitor_config = MonitorConfig::default()
            .interval(interval)
            .observe_timeout(profile.observe_timeout)
            .retention(args.retention.retention.0);
        let mut monitor = MonitorLoop::new(subject, checker, store, monitor_config)?;
        eprintln!(
            "operator: agent in {} mode on {} every {} (tickets in {}); Ctrl-C to stop",
            args.mode
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned()),
            monitor.subject().name(),
            output::duration(interval),
            monitor.store().path().display()
        );
        let shutdown = operator_core::signal::shutdown_signal();
        tokio::pin!(shutdown);
        let mut sessions = 0u64;
        loop {
            let pass = async {
                let tick = monitor.tick().await;
                if let Err(e) = &tick {
                    tracing::error!(error = %e, "monitor tick failed");
                }
                let (subject, checker) = (monitor.subject(), monitor.checker());
                (tick.ok(), agent.pass(subject, checker).await)
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                (tick, result) = pass => {
                    if let Some(report) = &tick {
                        outlets.tick(report);
                    }
                    match result {
                        Ok(reports) => {
                            for r in &reports {
                                sessions += 1;
                                print_session(r, json);
                                outlets.session(monitor.subject().name(), r, chrono::Utc::now());
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "agent pass failed"),
                    }
                }
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        outlets
            .finish(tokio::time::sleep(Duration::from_secs(3)))
            .await;
        eprintln!("operator: agent stopped after {sessions} sessions");
        Ok(exit::OK)
    }
}

fn print_session(r: &SessionReport, json: bool) {
    if json {
        print_json(&serde_json::to_value(r).unwrap_or_default());
        return;
    }
    let by = r
        .diagnosis
        .as_ref()
        .map(|d| {
            if d.fallback.is_some() {
                format!("{} (fallback)", d.diagnoser)
            } else {
                d.diagnoser.clone()
            }
        })
        .unwrap_or_else(|| "-".to_owned());
    println!(
        "#{} {} {} ({} mode, session #{}, {}, {} step{}, {} tokens, {}): {}",
        r.ticket,
        output::what(&r.key.invariant, r.key.entity.as_deref()),
        r.outcome.as_str().to_uppercase(),
        r.mode,
        r.session,
        by,
        r.steps,
        if r.steps == 1 { "" } else { "s" },
        r.tokens,
        output::duration(Duration::from_millis(r.elapsed_ms)),
        r.detail
    );
}
