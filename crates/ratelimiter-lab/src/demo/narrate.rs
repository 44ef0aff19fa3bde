//! What the demo tells, as values ([`Narration`]), and two sinks: text for a terminal (colour
//! optional) and JSON lines for scripts.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use operator_core::ActionReport;
use serde::Serialize;

use super::summary::{self, ChapterResult};
use crate::chaos::FaultReport;
use crate::environment::{ComponentStatus, DownReport};
use crate::human;

/// One thing the demo says.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Narration {
    /// The demo starts: where everything lives.
    Begin {
        /// When.
        at: DateTime<Utc>,
        /// Where the stack runs: `local`, `compose`.
        environment: String,
        /// The stack's state directory (logs, state file).
        state_dir: String,
        /// The ticket database.
        db: String,
        /// The load that runs throughout.
        load: String,
    },
    /// The stack is up.
    StackUp {
        /// When.
        at: DateTime<Utc>,
        /// Where the stack runs: `local`, `compose`.
        environment: String,
        /// How long `up` took.
        took_ms: u64,
        /// Every component.
        components: Vec<ComponentStatus>,
    },
    /// A chapter begins.
    ChapterStart {
        /// When.
        at: DateTime<Utc>,
        /// 1-based.
        chapter: usize,
        /// Its title.
        title: String,
        /// What it expects to see.
        expect: String,
    },
    /// A step of the story.
    Note {
        /// When.
        at: DateTime<Utc>,
        /// The chapter.
        chapter: usize,
        /// Milliseconds since the chapter started.
        t_ms: u64,
        /// What happened.
        text: String,
    },
    /// A fault was injected or undone.
    Fault {
        /// When.
        at: DateTime<Utc>,
        /// The chapter.
        chapter: usize,
        /// Milliseconds since the chapter started.
        t_ms: u64,
        /// What it did and verified.
        report: FaultReport,
    },
    /// The monitor changed a ticket.
    Ticket {
        /// When the tick that changed it finished.
        at: DateTime<Utc>,
        /// The chapter.
        chapter: usize,
        /// Milliseconds since the chapter started.
        t_ms: u64,
        /// `opened`, `escalated`, `resolved` or `cleared_while_held`.
        event: String,
        /// The ticket.
        ticket: i64,
        /// `invariant[entity]`.
        what: String,
        /// Severity, for opened and escalated.
        severity: Option<String>,
        /// The violation's message, for opened and escalated.
        message: Option<String>,
    },
    /// The subject ran a remediation action.
    Action {
        /// When it finished.
        at: DateTime<Utc>,
        /// The chapter.
        chapter: usize,
        /// Milliseconds since the chapter started.
        t_ms: u64,
        /// What it changed.
        report: ActionReport,
    },
    /// A chapter ends.
    ChapterEnd {
        /// When.
        at: DateTime<Utc>,
        /// Its result.
        result: ChapterResult,
    },
    /// Every chapter's result.
    Summary {
        /// When.
        at: DateTime<Utc>,
        /// Whether every chapter saw what it expected.
        ok: bool,
        /// One row per chapter run.
        chapters: Vec<ChapterResult>,
        /// `chapter N (title)` of each failure, or the interruption.
        failed: Vec<String>,
        /// Length of the whole demo.
        took_ms: u64,
    },
    /// The stack was torn down.
    Teardown {
        /// When.
        at: DateTime<Utc>,
        /// What was stopped.
        report: DownReport,
    },
}

/// Where narration goes.
pub trait Narrator: Send {
    /// Tells one thing.
    fn narrate(&mut self, n: &Narration);
}

/// JSON lines, one object per [`Narration`], tagged by `type`.
pub struct JsonNarrator<W> {
    out: W,
}

impl<W: Write + Send> JsonNarrator<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write + Send> Narrator for JsonNarrator<W> {
    fn narrate(&mut self, n: &Narration) {
        if let Ok(line) = serde_json::to_string(n) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

/// Text for a terminal: a header per chapter, one line per step with the time since the chapter
/// began, and the summary table. ANSI colour when asked (the CLI asks when stdout is a TTY).
pub struct TextNarrator<W> {
    out: W,
    color: bool,
}

/// ANSI styles.
#[derive(Clone, Copy)]
enum Style {
    Bold,
    Dim,
    Green,
    Red,
    Yellow,
    Cyan,
}

impl<W: Write + Send> TextNarrator<W> {
    /// Writes to `out`, with colour or not.
    pub fn new(out: W, color: bool) -> Self {
        Self { out, color }
    }

    fn paint(&self, style: Style, s: &str) -> String {
        if !self.color {
            return s.to_owned();
        }
        let code = match style {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    fn line(&mut self, at: DateTime<Utc>, t_ms: u64, text: &str) {
        let clock = at.format("%H:%M:%S%.3f").to_string();
        let rel = format!("+{:>6.2}s", t_ms as f64 / 1000.0);
        let prefix = self.paint(Style::Dim, &format!("{clock} {rel}"));
        let _ = writeln!(self.out, "  {prefix}  {text}");
    }

    fn fault(&mut self, at: DateTime<Utc>, t_ms: u64, r: &FaultReport) {
        let head = self.paint(Style::Cyan, &format!("chaos {} {}", r.step, r.fault));
        self.line(at, t_ms, &format!("{head}: {}", r.did.join("; ")));
        for c in &r.checks {
            let mark = if c.ok {
                self.paint(Style::Green, "✓")
            } else {
                self.paint(Style::Red, "✗")
            };
            let _ = writeln!(self.out, "{:30}{mark} {}: {}", "", c.what, c.detail);
        }
        if r.step == "inject" {
            let undo = self.paint(Style::Dim, &format!("undo: {}", r.undo));
            let _ = writeln!(self.out, "{:30}{undo}", "");
        }
    }
}

impl<W: Write + Send> Narrator for TextNarrator<W> {
    fn narrate(&mut self, n: &Narration) {
        match n {
            Narration::Begin {
                at,
                environment,
                state_dir,
                db,
                load,
            } => {
                let title = self.paint(Style::Bold, "operator demo ratelimit");
                let _ = writeln!(
                    self.out,
                    "{title} — {} ({environment} environment)\n  state and logs: {state_dir}\n  tickets: {db}\n  load: {load}",
                    at.to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
            Narration::StackUp {
                environment,
                took_ms,
                components,
                ..
            } => {
                let parts: Vec<String> = components
                    .iter()
                    .map(|c| match (&c.container, c.pid) {
                        (Some(name), _) => format!("{} :{} ({name})", c.component, c.port),
                        (None, pid) => {
                            format!("{} :{} (pid {})", c.component, c.port, pid.unwrap_or(0))
                        }
                    })
                    .collect();
                let _ = writeln!(
                    self.out,
                    "  {environment} stack up in {}: {}",
                    human::duration(std::time::Duration::from_millis(*took_ms)),
                    parts.join(", ")
                );
            }
            Narration::ChapterStart {
                chapter,
                title,
                expect,
                ..
            } => {
                let head = self.paint(Style::Bold, &format!("Chapter {chapter}: {title}"));
                let _ = writeln!(self.out, "\n{head}");
                let expect = self.paint(Style::Dim, &format!("expect: {expect}"));
                let _ = writeln!(self.out, "  {expect}");
            }
            Narration::Note { at, t_ms, text, .. } => self.line(*at, *t_ms, text),
            Narration::Fault {
                at, t_ms, report, ..
            } => self.fault(*at, *t_ms, report),
            Narration::Ticket {
                at,
                t_ms,
                event,
                ticket,
                what,
                severity,
                message,
                ..
            } => {
                let style = match event.as_str() {
                    "opened" | "escalated" => Style::Yellow,
                    _ => Style::Green,
                };
                let ev = self.paint(style, &format!("{event:<9}"));
                let sev = severity
                    .as_deref()
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default();
                let msg = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                self.line(*at, *t_ms, &format!("{ev} #{ticket} {what}{sev}{msg}"));
            }
            Narration::Action {
                at, t_ms, report, ..
            } => {
                let head = self.paint(Style::Cyan, &format!("action {}", report.action));
                self.line(*at, *t_ms, &format!("{head}: {}", report.summary));
            }
            Narration::ChapterEnd { result, .. } => {
                let mark = if result.ok {
                    self.paint(Style::Green, "✓ observed")
                } else {
                    self.paint(Style::Red, "✗ NOT observed")
                };
                let _ = writeln!(self.out, "  {mark}: {}", result.outcome);
            }
            Narration::Summary {
                ok,
                chapters,
                failed,
                took_ms,
                ..
            } => {
                let _ = writeln!(self.out, "\n{}", self.paint(Style::Bold, "Summary"));
                let _ = write!(self.out, "{}", summary::table(chapters));
                let verdict = if *ok {
                    self.paint(
                        Style::Green,
                        &format!(
                            "every chapter observed what it expected ({} in all)",
                            human::duration(std::time::Duration::from_millis(*took_ms))
                        ),
                    )
                } else {
                    self.paint(Style::Red, &format!("FAILED: {}", failed.join("; ")))
                };
                let _ = writeln!(self.out, "{verdict}");
            }
            Narration::Teardown { report, .. } => {
                let _ = writeln!(
                    self.out,
                    "\nstack down: {}{}",
                    report.stopped.join("; "),
                    report
                        .logs_kept
                        .as_deref()
                        .map(|l| format!("; logs kept in {l}"))
                        .unwrap_or_default()
                );
                if !report.left_behind.is_empty() {
                    let _ = writeln!(
                        self.out,
                        "{}",
                        self.paint(
                            Style::Red,
                            &format!("left behind: {}", report.left_behind.join(", "))
                        )
                    );
                }
                if !report.ports_still_open.is_empty() {
                    let _ = writeln!(
                        self.out,
                        "{}",
                        self.paint(
                            Style::Red,
                            &format!("ports still open: {:?}", report.ports_still_open)
                        )
                    );
                }
            }
        }
        let _ = self.out.flush();
    }
}
