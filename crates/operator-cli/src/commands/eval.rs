//! `operator eval --subject ratelimit`: repeated fault trials on a stack of its own (local
//! processes, with one Redis or `--redis cluster`, or compose containers with `--env compose`)
//! under steady load, each judged against
//! what its fault expects; a table (or `--json`) of win rate, MTTD, MTTR, diagnoses right and
//! false tickets; the stack torn down.

use std::time::Instant;

use ratelimiter_lab::eval::{self, EvalReport, Progress, TrialRecord};
use ratelimiter_lab::{
    ComposeConfig, ComposeEnv, EnvKind, Environment, EvalConfig, LocalEnv, NodeSecrets,
    StackConfig, human,
};

use crate::args::GlobalArgs;
use crate::args::eval::{EvalArgs, EvalSubject};
use crate::args::stack::default_state_dir;
use crate::exit::{self, CliError, CliResult};
use crate::output::print_json;

/// The eval's compose project, apart from `stack up`'s and the demo's.
const EVAL_PROJECT: &str = "operator-eval";

/// Nodes of the compose file's stack.
const COMPOSE_NODES: usize = 3;

/// `--help` of `operator eval`.
pub const EVAL_HELP: &str = "\
Each trial: the stack healthy; the fault injected; the time until the ticket it must open
(MTTD, from the instant the fault took effect); that ticket's offline diagnosis checked against
the fault's cause; the agent handling it (--agent execute runs the --allow actions and verifies
them), the fault's undo repairing what it did not; the time until the ticket resolved by
re-observation (MTTR, from the ticket opening); tickets neither expected nor a side effect of
the fault (false tickets); the stack verified whole and every ticket resolved before the next
trial. A fault the stack heals by itself within an interval (drop-policies, script-flush,
restart-node) expects its heal verified and no lasting ticket. A lost trial is printed on
stderr with its timeline. See docs/EVAL.md.

--redis cluster runs the trials on a local Redis Cluster (3 primaries + 3 replicas, free
ports): by default kill-node 2, restart-node 2, stuck-keys 20 (its keys across the shards),
kill-redis-primary 1 and failover 2, the last two expecting failover_detected[<the old
primary>] (the address resolved when the fault acts), diagnosed as redis_cluster_failover.
The faults on a single Redis (kill-redis, restart-redis, pause-redis, drop-policies,
script-flush) are refused there.

--json prints {\"settings\": {...}, \"false_tickets\": N (soak), \"faults\": [{\"fault\",
\"trials\", \"won\", \"mttd_ms\": {\"median\", \"p90\", \"max\"}, \"mttr_ms\": {...} or null,
\"diagnosis_correct\", \"false_tickets\"}]}.

Exit codes: 0 when every trial was won (and the soak opened no ticket), 1 otherwise, 2 on bad
usage (naming the flag).";

/// Runs `operator eval`.
pub async fn run(global: &GlobalArgs, args: EvalArgs) -> CliResult {
    let EvalSubject::Ratelimit = args.subject;
    let kind = args.env.kind();
    args.compose.only_with_compose(kind)?;
    let dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| default_state_dir("eval"));
    let (db, fresh) = match &global.db {
        Some(db) => (db.clone(), false),
        None => (dir.join("tickets.db"), true),
    };
    // Every flag is checked before anything starts. A fresh admin token and identifier secret
    // per run, handed to the nodes through their environment, never printed.
    let secrets = NodeSecrets::random()?;
    let (planned, nodes) = match kind {
        EnvKind::Local => {
            let stack = StackConfig {
                secrets,
                ..args.stack.config(dir.clone())?
            };
            let (stack, moves) = stack.with_free_ports();
            for m in &moves {
                eprintln!("operator: {m}");
            }
            let nodes = stack.node_ports.len();
            (Planned::Local(stack), nodes)
        }
        EnvKind::Compose => (
            Planned::Compose(ComposeConfig {
                secrets,
                ..args
                    .compose
                    .config(&args.stack, dir.clone(), Some(EVAL_PROJECT))?
            }),
            COMPOSE_NODES,
        ),
    };
    let config = args.config(db, fresh, nodes)?;
    if let Some(md) = &args.markdown
        && let Some(parent) = md.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(CliError::flag(
            "--markdown",
            format!("{}: no such directory", parent.display()),
        ));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::flag("--state-dir", format!("{}: {e}", dir.display())))?;
    eprintln!(
        "operator: eval of {} fault{} × {} trial{} on a {} stack (tickets in {})",
        config.faults.len(),
        plural(config.faults.len()),
        config.trials,
        plural(config.trials),
        kind.name(),
        config.db.display()
    );
    let started = Instant::now();
    // Each environment tears itself down when dropped, should the eval fail first.
    let (report, clean) = match planned {
        Planned::Local(stack) => {
            let env = LocalEnv::up(stack).await?;
            env.kill_on_drop(true);
            on(&env, config).await?
        }
        Planned::Compose(compose) => {
            let env = ComposeEnv::up(compose).await?;
            env.down_on_drop(true);
            on(&env, config).await?
        }
    };
    if global.json {
        print_json(&serde_json::to_value(&report).map_err(anyhow::Error::from)?);
    } else {
        print!("{}", report.table());
    }
    if let Some(md) = &args.markdown {
        std::fs::write(md, report.markdown())
            .map_err(|e| CliError::Failed(anyhow::anyhow!("{}: {e}", md.display())))?;
    }
    for t in report.lost() {
        print_lost(t);
    }
    eprintln!("operator: eval took {}", human::duration(started.elapsed()));
    let mut failures = Vec::new();
    if let Some(why) = &report.stopped {
        failures.push(why.clone());
    }
    if !clean {
        failures.push("teardown left processes, containers or ports behind".to_owned());
    }
    let lost = report.lost().count();
    if lost > 0 {
        failures.push(format!("{lost} trial{} lost", plural(lost)));
    }
    if report.false_tickets > 0 || report.soak_unhealthy {
        failures.push("the soak was not clean".to_owned());
    }
    if report.ok() && clean {
        Ok(exit::OK)
    } else {
        eprintln!("operator: eval failed: {}", failures.join("; "));
        Ok(exit::FAILURE)
    }
}

/// The stack the eval brings up.
enum Planned {
    Local(StackConfig),
    Compose(ComposeConfig),
}

/// The eval on an environment that is up, then its teardown: the report, and whether nothing
/// was left behind.
async fn on(env: &dyn Environment, config: EvalConfig) -> Result<(EvalReport, bool), CliError> {
    let mut progress = |p: Progress<'_>| match p {
        Progress::Soak {
            healthy,
            opened,
            timeline,
        } => {
            eprintln!(
                "operator: soak done{}: {} false ticket{}{}",
                if healthy {
                    ""
                } else {
                    " (never healthy first)"
                },
                opened.len(),
                plural(opened.len()),
                if opened.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", opened.join(", "))
                }
            );
            // What the false tickets said, for whoever has to find out why.
            if !opened.is_empty() || !healthy {
                for line in timeline {
                    eprintln!("  {line}");
                }
            }
        }
        Progress::Trial(t) => eprintln!("operator: {}", trial_line(t)),
    };
    let report = eval::run(
        config,
        env,
        &mut progress,
        operator_core::signal::shutdown_signal(),
    )
    .await;
    let down = env.down().await;
    let report = report?;
    let clean = down.map(|d| d.clean()).unwrap_or(false);
    Ok((report, clean))
}

/// `kill-redis trial 2: won (detected 512ms, resolved 3.1s)`, or why it was lost.
fn trial_line(t: &TrialRecord) -> String {
    let ms = |v: Option<u64>| {
        v.map_or_else(
            || "-".to_owned(),
            |m| human::duration(std::time::Duration::from_millis(m)),
        )
    };
    let measured = format!(
        "detected {}, resolved {}",
        ms(t.facts.detected_ms),
        ms(t.facts.resolved_ms)
    );
    if t.verdict.won {
        format!("{} trial {}: won ({measured})", t.fault, t.trial)
    } else {
        format!(
            "{} trial {}: LOST ({measured}): {}",
            t.fault,
            t.trial,
            t.verdict.reasons.join("; ")
        )
    }
}

/// A lost trial and its timeline, on stderr.
fn print_lost(t: &TrialRecord) {
    eprintln!("\nlost: {}", trial_line(t));
    for line in &t.timeline {
        eprintln!("  {line}");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
