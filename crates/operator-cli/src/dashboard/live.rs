//! The dashboard's shell: the terminal, the keys, and the loop that observes the subject each
//! interval and redraws. Everything it shows comes from the pure [`Dashboard`] and [`draw`].
//!
//! The terminal is put in raw mode on the alternate screen and restored on every way out: `q`,
//! Ctrl-C (a key in raw mode), SIGINT/SIGTERM, an error (a guard restores it on drop) and a panic
//! (ratatui's hook restores it before the message is printed).

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use operator_core::assess::observe_now;
use operator_core::context::{ContextConfig, gather};
use operator_core::monitor::Active;
use operator_core::{
    Diagnosable, History, InvariantChecker, MonitorLoop, OfflineDiagnoser, Subject, TickReport,
    Ticket, TicketStore, observe_bounded,
};
use operator_notify::Outlets;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::dashboard::entities::entities_of;
use crate::dashboard::model::{Command, Dashboard, Entities, Key};
use crate::dashboard::render::draw;

/// Where the dashboard's state comes from.
pub enum Live<S: Subject, C> {
    /// Its own monitor loop, keeping the tickets (pending states live).
    Monitor(Box<MonitorLoop<S, C>>),
    /// Another monitor keeps the tickets: observe for the entities and what is violated now,
    /// write nothing.
    ReadOnly {
        /// The subject.
        subject: S,
        /// Its checker.
        checker: C,
        /// The ticket store the other monitor writes.
        store: Arc<TicketStore>,
        /// Recent observations, for the checker and the rates.
        history: History<S::Observation>,
        /// Bound on one observation.
        timeout: Duration,
    },
}

impl<S: Diagnosable, C: InvariantChecker<S::Observation>> Live<S, C> {
    fn parts(&self) -> (&S, &C, &Arc<TicketStore>) {
        match self {
            Live::Monitor(m) => (m.subject(), m.checker(), m.store()),
            Live::ReadOnly {
                subject,
                checker,
                store,
                ..
            } => (subject, checker, store),
        }
    }

    fn history(&self) -> &History<S::Observation> {
        match self {
            Live::Monitor(m) => m.history(),
            Live::ReadOnly { history, .. } => history,
        }
    }

    /// One observation: its report, the open tickets after it, and the entities it showed.
    async fn step(&mut self) -> operator_core::Result<(TickReport, Vec<Ticket>, Option<Entities>)> {
        let report = match self {
            Live::Monitor(m) => m.tick().await?,
            Live::ReadOnly {
                subject,
                checker,
                store,
                history,
                timeout,
            } => read_only_tick(subject, checker, store, history, *timeout).await?,
        };
        let (subject, _, store) = self.parts();
        let name = subject.name().to_owned();
        let tickets = store.call(move |s| s.open_tickets(&name)).await?;
        let entities = if report.observation_error.is_none() {
            entities_now(subject.name(), self.history())
        } else {
            None
        };
        Ok((report, tickets, entities))
    }

    /// The offline diagnosis of `ticket`, as lines.
    async fn diagnose(&self, ticket: i64, timeout: Duration) -> Vec<String> {
        let (subject, checker, store) = self.parts();
        match diagnose(subject, checker, store, ticket, timeout).await {
            Ok(lines) => lines,
            Err(e) => vec![format!("cannot diagnose ticket #{ticket}: {e}")],
        }
    }
}

/// The entities from the latest observation in `history`, rates over the one before.
fn entities_now<O: Serialize>(subject: &str, history: &History<O>) -> Option<Entities> {
    let mut recent = history.iter().rev();
    let latest = recent.next()?;
    let now = serde_json::to_value(&*latest.observation).ok()?;
    let before = recent.next().and_then(|p| {
        let secs = (latest.at - p.at).num_milliseconds() as f64 / 1000.0;
        serde_json::to_value(&*p.observation)
            .ok()
            .map(|v| (v, secs))
    });
    Some(entities_of(
        subject,
        &now,
        before.as_ref().map(|(v, s)| (v, *s)),
    ))
}

/// A read-only tick: the open tickets are what fires; violations seen with no ticket are
/// shown as pending.
async fn read_only_tick<S: Subject, C: InvariantChecker<S::Observation>>(
    subject: &S,
    checker: &C,
    store: &Arc<TicketStore>,
    history: &mut History<S::Observation>,
    timeout: Duration,
) -> operator_core::Result<TickReport> {
    let observed_at = chrono::Utc::now();
    let started = Instant::now();
    let observed = observe_bounded(subject, timeout).await;
    let observation_duration = started.elapsed();
    let name = subject.name().to_owned();
    let open = store.call(move |s| s.open_tickets(&name)).await?;
    let firing: Vec<Active> = open
        .iter()
        .map(|t| Active {
            violation: operator_core::Violation {
                invariant: t.invariant.clone(),
                entity: t.entity.clone(),
                severity: t.severity,
                message: t.message.clone(),
                evidence: t.evidence.clone(),
            },
            since: t.first_seen,
            ticket: Some(t.id),
            observed: true,
        })
        .collect();
    let (pending, observation_error) = match observed {
        Ok(obs) => {
            let seen = checker.check(&obs, history);
            history.push(observed_at, started, Arc::new(obs));
            let pending = seen
                .into_iter()
                .filter(|v| !open.iter().any(|t| t.key() == v.key()))
                .map(|violation| Active {
                    violation,
                    since: observed_at,
                    ticket: None,
                    observed: true,
                })
                .collect();
            (pending, None)
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(TickReport {
        subject: subject.name().to_owned(),
        observed_at,
        observation_error,
        observation_duration,
        firing,
        pending,
        events: Vec::new(),
        pruned: None,
    })
}

async fn diagnose<S: Diagnosable, C: InvariantChecker<S::Observation>>(
    subject: &S,
    checker: &C,
    store: &Arc<TicketStore>,
    id: i64,
    timeout: Duration,
) -> operator_core::Result<Vec<String>> {
    let ticket = store.call(move |s| s.get(id)).await?;
    let (recent, now) = observe_now(subject, checker, &ticket, timeout).await;
    let config = ContextConfig::default();
    let mut ctx = gather(
        store,
        subject,
        checker.invariants(),
        &ticket,
        &recent,
        Some(now),
        &config,
    )
    .await?;
    ctx.trim(config.budget);
    let report = OfflineDiagnoser::new(subject.rules()).diagnose_now(&ctx);
    let d = &report.diagnosis;
    let mut lines = vec![
        format!("{}: {}", ticket.invariant, ticket.message),
        format!(
            "root cause: {} (confidence {:.0}%, {})",
            d.root_cause,
            d.confidence * 100.0,
            report.rule.as_deref().unwrap_or("no rule matched")
        ),
        d.summary.clone(),
    ];
    for a in &d.actions {
        lines.push(format!(
            "recommended: {} {} ({})",
            a.action, a.args, a.reason
        ));
    }
    for r in &d.risks {
        lines.push(format!("risk: {r}"));
    }
    Ok(lines)
}

/// Restores the terminal when dropped, whatever ends the dashboard.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Key presses, read on a thread of their own (crossterm's reads block).
fn keys() -> mpsc::Receiver<Key> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        while !tx.is_closed() {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let key = match event::read() {
                Ok(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
                    KeyCode::Char('q') => Key::Quit,
                    KeyCode::Up | KeyCode::Char('k') => Key::Up,
                    KeyCode::Down | KeyCode::Char('j') => Key::Down,
                    KeyCode::Enter => Key::Enter,
                    KeyCode::Esc | KeyCode::Backspace => Key::Back,
                    _ => Key::Other,
                },
                Ok(TermEvent::Resize(..)) => Key::Other,
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.blocking_send(key).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs the dashboard in the terminal until `q`, Ctrl-C or `shutdown`; returns the observations
/// shown.
///
/// # Errors
/// When the terminal cannot be set up or drawn on.
pub async fn run<S: Diagnosable, C: InvariantChecker<S::Observation>>(
    mut live: Live<S, C>,
    mut dash: Dashboard,
    interval: Duration,
    timeout: Duration,
    mut outlets: Option<Outlets>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<u64> {
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    let mut keys = keys();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        terminal.draw(|f| draw(f, &dash))?;
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            key = keys.recv() => match dash.key(key.unwrap_or(Key::Quit)) {
                Command::Quit => break,
                Command::Diagnose(ticket) => {
                    terminal.draw(|f| draw(f, &dash))?;
                    let lines = live.diagnose(ticket, timeout).await;
                    dash.diagnosed(ticket, lines);
                }
                Command::None => {}
            },
            _ = ticker.tick() => match live.step().await {
                Ok((report, tickets, entities)) => {
                    if let Some(o) = &mut outlets {
                        o.tick(&report);
                    }
                    dash.observed(&report, entities);
                    dash.set_tickets(tickets);
                }
                Err(e) => tracing::error!(error = %e, "dashboard tick failed"),
            },
        }
    }
    drop(keys);
    if let Some(o) = outlets {
        o.finish(tokio::time::sleep(Duration::from_secs(3))).await;
    }
    Ok(dash.observations)
}
