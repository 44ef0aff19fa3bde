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
    init_tracing(&cli.global.log_level, quiet);
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
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

/// Logs go to stderr, so stdout carries only results (and stays valid JSON with `--json`).
/// `quiet` discards them (the dashboard on a terminal).
fn init_tracing(level: &str, quiet: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(if quiet {
            BoxMakeWriter::new(std::io::sink)
        } else {
            BoxMakeWriter::new(std::io::stderr)
        })
        .init();
}
