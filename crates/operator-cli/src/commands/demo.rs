//! `operator demo ratelimit`: the main job in one command: a local stack under load, the
//! monitor watching it, five faults, measured and narrated, a summary, and the stack torn down.

use std::io::IsTerminal;
use std::path::PathBuf;

use async_trait::async_trait;
use clap::{Args, ValueEnum};
use operator_stack::DemoConfig;
use operator_stack::demo::{self, JsonNarrator, Narrator, NoPause, Pacer, TextNarrator};

use super::stack::{StackArgs, default_state_dir, stack_error};
use crate::cli::GlobalArgs;
use crate::exit::{self, CliResult};

/// The subjects with a demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoSubject {
    /// The distributed rate limiter: Redis and three nodes.
    Ratelimit,
}

/// Flags of `operator demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which demo.
    #[arg(value_enum)]
    pub subject: DemoSubject,
    /// Wait for Enter before each chapter.
    #[arg(long)]
    pub step: bool,
    /// Checks per second of the background load.
    #[arg(long, default_value_t = 240.0, value_name = "PER_SECOND")]
    pub rate: f64,
    /// The node killed in chapter 5.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub node: usize,
    /// Ports, failure mode, policies of the demo's stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Where the demo's stack keeps its state file and logs, and the demo its tickets unless
    /// --db is given [default: <state dir>/operator/demo]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Waits for Enter on stdin before each chapter.
struct EnterToContinue;

#[async_trait]
impl Pacer for EnterToContinue {
    async fn before(&mut self, chapter: usize) {
        eprint!("press Enter for chapter {chapter} ");
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
    }
}

/// Runs `operator demo ratelimit`.
pub async fn run(global: &GlobalArgs, args: DemoArgs) -> CliResult {
    let DemoSubject::Ratelimit = args.subject;
    let dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| default_state_dir("demo"));
    let stack = args.stack.config(dir.clone())?;
    let (db, fresh_db) = match &global.db {
        Some(db) => (db.clone(), false),
        None => (dir.join("tickets.db"), true),
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        crate::exit::CliError::flag("--state-dir", format!("{}: {e}", dir.display()))
    })?;
    let config = DemoConfig {
        stack,
        db,
        fresh_db,
        load_rate: args.rate,
        node: args.node,
        ..DemoConfig::default()
    };
    config.validate().map_err(stack_error)?;
    let stdout = std::io::stdout();
    let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut narrator: Box<dyn Narrator> = if global.json {
        Box::new(JsonNarrator::new(stdout))
    } else {
        Box::new(TextNarrator::new(stdout, color))
    };
    let mut pacer: Box<dyn Pacer> = if args.step {
        Box::new(EnterToContinue)
    } else {
        Box::new(NoPause)
    };
    let outcome = demo::run(
        config,
        narrator.as_mut(),
        pacer.as_mut(),
        operator_core::signal::shutdown_signal(),
    )
    .await
    .map_err(stack_error)?;
    if outcome.ok() {
        Ok(exit::OK)
    } else {
        eprintln!("operator: demo failed: {}", outcome.failures().join("; "));
        Ok(exit::FAILURE)
    }
}
