//! [`TextNarrator`]: the demo told to a terminal.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::narration::{Narration, Narrator};
use crate::chaos::FaultReport;
use crate::demo::summary::{self, ChapterResult};
use crate::environment::{ComponentStatus, DownReport};
use crate::human;

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

impl<W: Write + Send> TextNarrator<W> {
    fn begin(
        &mut self,
        at: DateTime<Utc>,
        environment: &str,
        state_dir: &str,
        db: &str,
        load: &str,
    ) {
        let title = self.paint(Style::Bold, "operator demo ratelimit");
        let _ = writeln!(
            self.out,
            "{title} — {} ({environment} environment)\n  state and logs: {state_dir}\n  tickets: {db}\n  load: {load}",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }

    fn stack_up(&mut self, environment: &str, took_ms: u64, components: &[ComponentStatus]) {
        let parts: Vec<String> = components
            .iter()
            .map(|c| match (&c.container, c.pid) {
                (Some(name), _) => format!("{} :{} ({name})", c.component, c.port),
                (None, pid) => format!("{} :{} (pid {})", c.component, c.port, pid.unwrap_or(0)),
            })
            .collect();
        let _ = writeln!(
            self.out,
            "  {environment} stack up in {}: {}",
            human::duration(Duration::from_millis(took_ms)),
            parts.join(", ")
        );
    }

    fn chapter_start(&mut self, chapter: usize, title: &str, expect: &str) {
        let head = self.paint(Style::Bold, &format!("Chapter {chapter}: {title}"));
        let _ = writeln!(self.out, "\n{head}");
        let expect = self.paint(Style::Dim, &format!("expect: {expect}"));
        let _ = writeln!(self.out, "  {expect}");
    }

    /// `opened    #3 node_down[127.0.0.1:8002] critical: ...`, the event painted.
    fn ticket(
        &self,
        event: &str,
        ticket: i64,
        what: &str,
        severity: Option<&str>,
        message: Option<&str>,
    ) -> String {
        let style = match event {
            "opened" | "escalated" => Style::Yellow,
            _ => Style::Green,
        };
        let ev = self.paint(style, &format!("{event:<9}"));
        let sev = severity.map(|s| format!(" {s}")).unwrap_or_default();
        let msg = message.map(|m| format!(": {m}")).unwrap_or_default();
        format!("{ev} #{ticket} {what}{sev}{msg}")
    }

    fn chapter_end(&mut self, result: &ChapterResult) {
        let mark = if result.ok {
            self.paint(Style::Green, "✓ observed")
        } else {
            self.paint(Style::Red, "✗ NOT observed")
        };
        let _ = writeln!(self.out, "  {mark}: {}", result.outcome);
    }

    fn summary(&mut self, ok: bool, chapters: &[ChapterResult], failed: &[String], took_ms: u64) {
        let _ = writeln!(self.out, "\n{}", self.paint(Style::Bold, "Summary"));
        let _ = write!(self.out, "{}", summary::table(chapters));
        let verdict = if ok {
            self.paint(
                Style::Green,
                &format!(
                    "every chapter observed what it expected ({} in all)",
                    human::duration(Duration::from_millis(took_ms))
                ),
            )
        } else {
            self.paint(Style::Red, &format!("FAILED: {}", failed.join("; ")))
        };
        let _ = writeln!(self.out, "{verdict}");
    }

    fn teardown(&mut self, report: &DownReport) {
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
            let left = format!("left behind: {}", report.left_behind.join(", "));
            let _ = writeln!(self.out, "{}", self.paint(Style::Red, &left));
        }
        if !report.ports_still_open.is_empty() {
            let open = format!("ports still open: {:?}", report.ports_still_open);
            let _ = writeln!(self.out, "{}", self.paint(Style::Red, &open));
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
            } => self.begin(*at, environment, state_dir, db, load),
            Narration::StackUp {
                environment,
                took_ms,
                components,
                ..
            } => self.stack_up(environment, *took_ms, components),
            Narration::ChapterStart {
                chapter,
                title,
                expect,
                ..
            } => self.chapter_start(*chapter, title, expect),
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
                let text = self.ticket(
                    event,
                    *ticket,
                    what,
                    severity.as_deref(),
                    message.as_deref(),
                );
                self.line(*at, *t_ms, &text);
            }
            Narration::Action {
                at, t_ms, report, ..
            } => {
                let head = self.paint(Style::Cyan, &format!("action {}", report.action));
                self.line(*at, *t_ms, &format!("{head}: {}", report.summary));
            }
            Narration::ChapterEnd { result, .. } => self.chapter_end(result),
            Narration::Summary {
                ok,
                chapters,
                failed,
                took_ms,
                ..
            } => self.summary(*ok, chapters, failed, *took_ms),
            Narration::Teardown { report, .. } => self.teardown(report),
        }
        let _ = self.out.flush();
    }
}
