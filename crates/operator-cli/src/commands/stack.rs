//! `operator stack up|status|down`: a rate-limiter stack (Redis and three nodes) as local
//! processes on 127.0.0.1, or as the services of docker-compose.ratelimit.yml (`--env compose`),
//! recorded in a state directory.

use std::path::Path;

use clap::{Args, Subcommand};
use operator_ratelimiter::RateLimiterConfig;
use ratelimiter_lab::{
    ComponentStatus, ComposeEnv, ComposeState, DownReport, Endpoints, EnvKind, Environment,
    LocalEnv,
};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::args::env::COMPOSE_HELP;
use crate::args::stack::{StackSubject, default_state_dir};
use crate::args::{ComposeArgs, EnvArgs, StackArgs, StateDirArgs};
use crate::exit::{self, CliResult};
use crate::output::{self, print_json};

/// `operator stack` subcommands.
#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Start Redis and the nodes, wait until all are ready, and record them in the state
    /// directory: local processes on 127.0.0.1 (pids, ports, log files), or with --env compose
    /// the services of docker-compose.ratelimit.yml (file, project, ports, images).
    #[command(after_help = COMPOSE_HELP)]
    Up(UpArgs),
    /// Show what the recorded stack runs, and whether each part is ready (exit 1 when not).
    Status(TargetArgs),
    /// Stop exactly what `stack up` started and check that the ports are free: local processes
    /// (SIGTERM, then SIGKILL after a grace period; the logs are kept), or the compose project
    /// (`down -v`: no container, network or volume of it left). Removes the record.
    Down(TargetArgs),
}

/// `--env` and `--state-dir`: which recorded stack.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Where the stack runs.
    #[command(flatten)]
    pub env: EnvArgs,
    /// State directory.
    #[command(flatten)]
    pub dir: StateDirArgs,
}

/// Flags of `operator stack up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The subject whose stack to run.
    #[arg(long, short = 's', value_enum, default_value = "ratelimit")]
    pub subject: StackSubject,
    /// Where the stack runs.
    #[command(flatten)]
    pub env: EnvArgs,
    /// Ports, failure mode, policies.
    #[command(flatten)]
    pub stack: StackArgs,
    /// State directory.
    #[command(flatten)]
    pub dir: StateDirArgs,
    /// Compose file, project, images, services.
    #[command(flatten)]
    pub compose: ComposeArgs,
}

/// Runs `operator stack ...`.
pub async fn run(global: &GlobalArgs, cmd: StackCommand) -> CliResult {
    match cmd {
        StackCommand::Up(args) => up(global, args).await,
        StackCommand::Status(t) => status(global, t.env.kind(), &t.dir.resolve("stack")).await,
        StackCommand::Down(t) => down(global, t.env.kind(), &t.dir.resolve("stack")).await,
    }
}

async fn up(global: &GlobalArgs, args: UpArgs) -> CliResult {
    let kind = args.env.kind();
    args.compose.only_with_compose(kind)?;
    let dir = args.dir.resolve("stack");
    let started = std::time::Instant::now();
    let (env, compose): (Box<dyn Environment>, Option<ComposeState>) = match kind {
        EnvKind::Local => {
            let config = args.stack.config(dir.clone())?;
            (Box::new(LocalEnv::up(config).await?), None)
        }
        EnvKind::Compose => {
            let config = args.compose.config(&args.stack, dir.clone(), None)?;
            let env = ComposeEnv::up(config).await?;
            // Printed below: without the nodes' secrets.
            let state = ComposeState {
                secrets: ratelimiter_lab::NodeSecrets::default(),
                ..env.state().clone()
            };
            (Box::new(env), Some(state))
        }
    };
    let status = env.status().await?;
    let endpoints = env.endpoints();
    if global.json {
        print_json(&json!({
            "environment": kind.name(), "state_dir": dir, "endpoints": endpoints,
            "components": status, "took_ms": started.elapsed().as_millis(),
            "compose": compose,
        }));
        return Ok(exit::OK);
    }
    match &compose {
        Some(c) => println!(
            "compose stack up in {} (project {}, {}; state in {}):",
            output::duration(started.elapsed()),
            c.project,
            c.file.display(),
            dir.display()
        ),
        None => println!(
            "stack up in {} (state in {}):",
            output::duration(started.elapsed()),
            dir.display()
        ),
    }
    print_components(&status);
    if let Some(c) = &compose {
        print_compose_services(c);
    }
    print_hints(kind, &endpoints, &dir);
    Ok(exit::OK)
}

/// The load balancer, Prometheus and Grafana of a compose stack, when it runs them.
fn print_compose_services(s: &ComposeState) {
    let started = |service: &str| s.services.is_empty() || s.services.iter().any(|x| x == service);
    for (service, var, what) in [
        ("lb", "LB_PORT", "load balancer"),
        ("prometheus", "PROMETHEUS_PORT", "prometheus"),
        ("grafana", "GRAFANA_PORT", "grafana"),
    ] {
        if let Some(port) = s.variables.get(var).filter(|_| started(service)) {
            println!("  {what:<14} http://127.0.0.1:{port}");
        }
    }
}

fn print_hints(kind: EnvKind, endpoints: &Endpoints, dir: &Path) {
    // The monitor's flags can be left out when the stack answers where they point by default.
    let monitor = RateLimiterConfig::default();
    let defaults = endpoints.redis_url == monitor.redis_url && endpoints.nodes == monitor.nodes;
    let target = if defaults {
        String::new()
    } else {
        format!(
            "{} --redis-url {}{} --nodes {}",
            if endpoints.redis_is_cluster() {
                " --redis-mode cluster"
            } else if endpoints.sentinel_master.is_some() {
                " --redis-mode sentinel"
            } else {
                ""
            },
            endpoints.redis_url,
            endpoints
                .sentinel_master
                .as_ref()
                .map(|m| format!(" --sentinel-master {m}"))
                .unwrap_or_default(),
            endpoints.nodes.join(",")
        )
    };
    let dir_flag = if dir == default_state_dir("stack") {
        String::new()
    } else {
        format!(" --state-dir {}", dir.display())
    };
    let env = kind.flag();
    println!("watch it:  operator monitor --subject ratelimit{target}");
    println!("load it:   operator load{dir_flag}");
    println!("break it:  operator chaos{env}{dir_flag} --subject ratelimit list");
    println!("stop it:   operator stack down{env}{dir_flag}");
}

fn print_components(status: &[ComponentStatus]) {
    for s in status {
        let state = match (s.running, s.paused, s.ready) {
            (false, ..) => "not running",
            (true, true, _) => "paused",
            (true, false, true) => "ready",
            (true, false, false) => "not ready",
        };
        let runs_as = match (&s.container, s.pid) {
            (Some(name), _) => format!("container {name:<24}"),
            (None, pid) => format!(
                "pid {:<8}",
                pid.map_or_else(|| "-".to_owned(), |p| p.to_string())
            ),
        };
        println!(
            "  {:<10} port {:<5}  {runs_as} {:<11} log {}",
            s.component.to_string(),
            s.port,
            state,
            s.log.as_deref().unwrap_or("-")
        );
        if let Some(note) = &s.note {
            println!("           {note}");
        }
    }
}

async fn status(global: &GlobalArgs, kind: EnvKind, dir: &Path) -> CliResult {
    let env = match ratelimiter_lab::open(kind, dir) {
        Ok(env) => env,
        Err(e @ ratelimiter_lab::Error::NoStack { .. }) => {
            let hint = e.hint();
            if global.json {
                print_json(&json!({ "environment": kind.name(), "state_dir": dir,
                    "running": false, "components": [], "hint": hint }));
            } else {
                println!("{e}");
                if let Some(hint) = hint {
                    println!("{hint}");
                }
            }
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let status = env.status().await?;
    let all_ready = status.iter().all(|s| s.ready);
    if global.json {
        print_json(&json!({
            "environment": kind.name(), "state_dir": dir, "running": true, "ready": all_ready,
            "endpoints": env.endpoints(), "components": status,
        }));
    } else {
        match kind {
            EnvKind::Local => {
                if let Ok(local) = LocalEnv::open(dir) {
                    println!(
                        "stack in {} (started {}):",
                        dir.display(),
                        output::ts(local.state().created_at)
                    );
                }
            }
            EnvKind::Compose => {
                if let Ok(c) = ComposeEnv::open(dir) {
                    let s = c.state();
                    println!(
                        "compose stack, project {} of {} (state in {}, started {}):",
                        s.project,
                        s.file.display(),
                        dir.display(),
                        output::ts(s.created_at)
                    );
                }
            }
        }
        print_components(&status);
    }
    Ok(if all_ready { exit::OK } else { exit::FAILURE })
}

async fn down(global: &GlobalArgs, kind: EnvKind, dir: &Path) -> CliResult {
    let env = match ratelimiter_lab::open(kind, dir) {
        Ok(env) => env,
        Err(e @ ratelimiter_lab::Error::NoStack { .. }) => {
            let hint = e.hint();
            if global.json {
                print_json(&json!({ "environment": kind.name(), "state_dir": dir,
                    "stopped": [], "ports_still_open": [], "hint": hint }));
            } else {
                println!(
                    "nothing to stop: no {}stack is recorded in {}",
                    if kind == EnvKind::Local {
                        ""
                    } else {
                        "compose "
                    },
                    dir.display()
                );
                if let Some(hint) = hint {
                    println!("{hint}");
                }
            }
            return Ok(exit::OK);
        }
        Err(e) => return Err(e.into()),
    };
    let report: DownReport = env.down().await?;
    if global.json {
        print_json(&json!({ "environment": kind.name(), "state_dir": dir,
            "stopped": report.stopped, "ports_still_open": report.ports_still_open,
            "left_behind": report.left_behind, "logs_kept": report.logs_kept }));
    } else {
        for line in &report.stopped {
            println!("  {line}");
        }
        match &report.logs_kept {
            Some(logs) => println!("stack down; logs kept in {logs}"),
            None if report.clean() => println!("stack down; nothing of it is left"),
            None => {}
        }
        if !report.ports_still_open.is_empty() {
            println!(
                "ports still accepting connections: {:?}",
                report.ports_still_open
            );
        }
        if !report.left_behind.is_empty() {
            println!("left behind: {}", report.left_behind.join(", "));
        }
    }
    Ok(if report.clean() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
