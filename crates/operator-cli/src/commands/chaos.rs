//! `operator chaos`: inject a fault into the recorded stack (local processes or compose
//! containers), or undo one, and verify.

use clap::Args;
use ratelimiter_lab::chaos::{self, Fault, FaultReport};
use serde_json::json;

use crate::args::GlobalArgs;
use crate::args::stack::StackSubject;
use crate::args::{EnvArgs, StateDirArgs};
use crate::exit::{self, CliResult};
use crate::output::print_json;

/// The faults, for `--help`.
pub const FAULTS_HELP: &str = "\
Faults (on the stack started by `operator stack up`, or `stack up --env compose`):
  kill-redis              SIGKILL Redis                  undo: `chaos undo kill-redis`
  restart-redis           restart it with no data        undoes itself: nodes re-seed (verified)
  pause-redis DURATION    freeze Redis, e.g. 3s          undoes itself when DURATION ends (verified)
  kill-node N             SIGKILL node N                 undo: `chaos undo kill-node N`
  restart-node N          SIGTERM node N, start it       undoes itself (verified ready)
  stuck-keys N            N keys without TTL             undo: repair_stuck_keys, or `chaos undo stuck-keys`
  drop-policies           DEL the policies hash          undoes itself: nodes restore them (verified)
  script-flush            SCRIPT FLUSH                   undoes itself: nodes reload on NOSCRIPT (verified)
  partition-node N DUR    node N off the network         undoes itself when DUR ends (compose only; verified)
  partition-redis DUR     Redis off the network          undoes itself when DUR ends (compose only; verified)
  naive-mode              nodes in --limiter-mode naive  undo: `chaos undo naive-mode` (local only)

On compose (--env compose) the faults act on containers: kill is `docker kill` (the restart
policy does not bring it back), pause-redis is `docker pause`, restart-redis removes the
container and its data volume and creates it again, a partition is `docker network disconnect`
(the container also loses its published port, so the host sees it unreachable too).

Exit codes: 0 when every verification held, 1 when one did not, 2 on bad usage (also a fault
the environment does not support, e.g. a partition of local processes).";

/// Flags of `operator chaos`.
#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// The subject to break.
    #[arg(long, short = 's', value_enum, default_value = "ratelimit")]
    pub subject: StackSubject,
    /// Where the stack runs.
    #[command(flatten)]
    pub env: EnvArgs,
    /// State directory of the stack.
    #[command(flatten)]
    pub dir: StateDirArgs,
    /// `list`, a fault (`kill-node 2`, `pause-redis 3s`, ...), or `undo` and a fault.
    #[arg(required = true, value_name = "FAULT", num_args = 1..)]
    pub words: Vec<String>,
}

/// Runs `operator chaos ...`.
pub async fn run(global: &GlobalArgs, args: ChaosArgs) -> CliResult {
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    if words == ["list"] {
        list(global.json);
        return Ok(exit::OK);
    }
    let (undo, fault_words) = match words.split_first() {
        Some((&"undo", rest)) => (true, rest),
        _ => (false, &words[..]),
    };
    let fault = if undo {
        Fault::parse_undo(fault_words)
    } else {
        Fault::parse(fault_words)
    }?;
    let dir = args.dir.resolve("stack");
    let env = ratelimiter_lab::open(args.env.kind(), &dir)?;
    let report = if undo {
        chaos::undo(env.as_ref(), fault).await
    } else {
        chaos::inject(env.as_ref(), fault).await
    }?;
    print_report(&report, global.json);
    Ok(if report.ok() { exit::OK } else { exit::FAILURE })
}

fn list(json: bool) {
    let catalog = Fault::catalog();
    if json {
        print_json(&json!({ "faults": catalog }));
        return;
    }
    for f in catalog {
        let name = match f.arg {
            Some(a) => format!("{} {a}", f.name),
            None => f.name.to_owned(),
        };
        println!("{name:<24} {}", f.does);
        println!("{:<24} undo: {}", "", f.undo);
    }
}

fn print_report(r: &FaultReport, json: bool) {
    if json {
        print_json(&serde_json::to_value(r).unwrap_or_default());
        return;
    }
    let verb = if r.step == "undo" { "undo " } else { "" };
    println!("chaos {verb}{}: {}", r.fault, r.did.join("; "));
    for c in &r.checks {
        println!(
            "  {} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.what,
            c.detail
        );
    }
    if r.step == "inject" {
        println!("  undo: {}", r.undo);
    }
}
