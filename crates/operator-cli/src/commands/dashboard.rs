//! `operator dashboard`: the live view of a subject in the terminal (see
//! [`dashboard`](crate::dashboard)).

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Args;
use operator_core::monitor::SUBJECT_UNREACHABLE;
use operator_core::{Diagnosable, History, InvariantChecker, MonitorLoop, TicketStore};

use crate::args::{GlobalArgs, LoopArgs, NotifyArgs, RetentionArgs};
use crate::args::{Profile, SubjectArgs, WithSubject};
use crate::dashboard::{self, Dashboard, Live};
use crate::exit::{self, CliError, CliResult};

/// Flags of `operator dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// How the loop observes and when alerts fire (as `operator monitor`).
    #[command(flatten)]
    pub schedule: LoopArgs,
    /// Show the tickets another `operator monitor` keeps in the same --db, without running the
    /// monitor loop here: the subject is still observed, for its entities and what is violated
    /// now (shown as pending until that monitor opens a ticket), but nothing is written.
    #[arg(long)]
    pub read_only: bool,
    /// How long resolved tickets are kept (when the dashboard runs the monitor loop).
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Notifications and metrics (when the dashboard runs the monitor loop).
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// The subject and its connection (last, so its help headings close the list).
    #[command(flatten)]
    pub target: SubjectArgs,
}

/// Runs `operator dashboard`.
pub async fn run(global: &GlobalArgs, args: DashboardArgs) -> CliResult {
    if !std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "dashboard: stdout is not a terminal (use `operator monitor` for a log of changes)"
                .into(),
        ));
    }
    if args.read_only
        && (!args.notify.alertmanager_url.is_empty()
            || !args.notify.webhook_url.is_empty()
            || args.notify.metrics_listen.is_some())
    {
        return Err(CliError::flag(
            "--read-only",
            "notifications and metrics come from the monitor that keeps the tickets; drop \
             --alertmanager-url, --webhook-url and --metrics-listen",
        ));
    }
    let store = global.open_store()?;
    let target = args.target.clone();
    target.visit(Run { args, store }).await?
}

struct Run {
    args: DashboardArgs,
    store: Arc<TicketStore>,
}

impl WithSubject for Run {
    type Output = CliResult;

    async fn with<S, C>(self, subject: S, checker: C, profile: Profile) -> CliResult
    where
        S: Diagnosable,
        C: InvariantChecker<S::Observation>,
    {
        let Run { args, store } = self;
        let config = args
            .schedule
            .config(&checker, profile, false, &args.retention)?;
        let mut invariants: Vec<String> =
            checker.invariants().into_iter().map(|s| s.name).collect();
        invariants.push(SUBJECT_UNREACHABLE.to_owned());
        let dash = Dashboard::new(subject.name(), invariants, args.read_only);
        let (interval, timeout) = (config.interval, config.observe_timeout);
        let (live, outlets) = if args.read_only {
            let live = Live::ReadOnly {
                subject,
                checker,
                store,
                history: History::new(config.history),
                timeout,
            };
            (live, None)
        } else {
            let outlets = args.notify.start()?;
            let monitor = MonitorLoop::new(subject, checker, store, config)?;
            (Live::Monitor(Box::new(monitor)), Some(outlets))
        };
        let shutdown = operator_core::signal::shutdown_signal();
        dashboard::run(live, dash, interval, timeout, outlets, shutdown)
            .await
            .map_err(|e| CliError::Failed(anyhow::anyhow!("terminal: {e}")))?;
        Ok(exit::OK)
    }
}
