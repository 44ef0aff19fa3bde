//! [`Narration`], what the demo tells, as values, and [`Narrator`], where it goes.

use chrono::{DateTime, Utc};
use operator_core::ActionReport;
use serde::Serialize;

use crate::chaos::FaultReport;
use crate::demo::summary::ChapterResult;
use crate::environment::{ComponentStatus, DownReport};

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
