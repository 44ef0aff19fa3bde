//! The `operator` command: monitor subjects, manage tickets, diagnose and remediate.
//!
//! This binary only parses flags and environment variables, turns them into the libraries'
//! configuration structs, and prints results. Everything else lives in the library crates.
//!
//! # Layout
//! In layers, each importing only the ones below it:
//! - [`cli`]: [`Cli`](cli::Cli) and its commands, and [`run`](cli::run), the dispatch; only
//!   `main` imports it.
//! - [`commands`]: one module per command (its flags, its `run`, its text and JSON output);
//!   commands never import each other.
//! - [`args`]: the argument groups commands share (global options and the ticket store, the
//!   subject and its connection, `--env` and the compose flags, the stack's flags, diagnosis),
//!   each turning flags into a library's configuration; and [`WithSubject`](args::WithSubject),
//!   the generic bounds every subject command is written against.
//! - [`dashboard`]: the live terminal view of `operator dashboard` (a pure view model and its
//!   rendering, and the terminal shell).
//! - [`exit`]: exit codes, [`CliError`](exit::CliError), and every library error mapped to it;
//!   [`output`]: the text formats commands share.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI prints its results

mod args;
mod cli;
mod commands;
mod dashboard;
mod exit;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Logs on the terminal the dashboard draws on would scribble over it.
    let quiet =
        matches!(cli.command, cli::Command::Dashboard(_)) && std::io::stderr().is_terminal();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    // The exporter's batch task runs on the runtime: it is installed inside it.
    let otlp = match runtime.block_on(async { install_otlp(&cli) }) {
        Ok(otlp) => otlp,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.code());
        }
    };
    init_tracing(&cli.global.log_level, quiet, otlp.as_ref());
    let outcome = runtime.block_on(cli::run(cli));
    // The tick spans still queued are exported before the process exits.
    if let Some(otlp) = otlp {
        runtime.block_on(otlp.shutdown());
    }
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

/// The OTLP exporter of `operator monitor --otlp-endpoint` (other commands trace nothing).
fn install_otlp(cli: &cli::Cli) -> Result<Option<otlp_export::OtlpGuard>, exit::CliError> {
    let cli::Command::Monitor(args) = &cli.command else {
        return Ok(None);
    };
    let Some(config) = args.tracing.config()? else {
        return Ok(None);
    };
    otlp_export::install(&config)
        .map(Some)
        .map_err(|e| exit::CliError::flag("--otlp-endpoint", e))
}

/// Logs go to stderr, so stdout carries only results (and stays valid JSON with `--json`).
/// `quiet` discards them (the dashboard on a terminal). With `otlp`, info-level spans (the
/// monitor's `tick` and what runs inside it) are also exported, whatever the log filter.
fn init_tracing(level: &str, quiet: bool, otlp: Option<&otlp_export::OtlpGuard>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(if quiet {
            BoxMakeWriter::new(std::io::sink)
        } else {
            BoxMakeWriter::new(std::io::stderr)
        })
        .with_filter(filter);
    let otel = otlp.map(|g| {
        g.layer()
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(fmt).with(otel).init();
}
