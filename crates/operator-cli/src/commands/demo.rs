//! `operator demo ratelimit`: the main job in one command: a stack under load (local processes,
//! or compose containers with `--env compose`), the monitor watching it, five faults, measured
//! and narrated, a summary, and the stack torn down.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use clap::{Args, ValueEnum};
use ratelimiter_lab::demo::{self, JsonNarrator, Narrator, NoPause, Pacer, TextNarrator};
use ratelimiter_lab::{
    ComposeConfig, ComposeEnv, DemoConfig, DemoOutcome, EnvKind, Environment, LocalEnv,
    NodeSecrets, StackConfig,
};

use crate::args::GlobalArgs;
use crate::args::stack::default_state_dir;
use crate::args::{ComposeArgs, EnvArgs, StackArgs};
use crate::exit::{self, CliError, CliResult};

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
    #[arg(long, default_value_t = DemoConfig::default().load_rate, value_name = "PER_SECOND")]
    pub rate: f64,
    /// The node killed in chapter 5.
    #[arg(long, default_value_t = DemoConfig::default().node, value_name = "N")]
    pub node: usize,
    /// Where the demo's stack runs.
    #[command(flatten)]
    pub env: EnvArgs,
    /// Ports, failure mode, policies of the demo's stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Where the demo's stack keeps its state file and logs, and the demo its tickets unless
    /// --db is given [default: <state dir>/operator/demo]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Compose file, project, images, services of the demo's compose stack.
    #[command(flatten)]
    pub compose: ComposeArgs,
}

/// The demo's compose project, apart from `stack up`'s, so both can run side by side.
const DEMO_PROJECT: &str = "operator-demo";

/// `--help` of `operator demo`.
pub const DEMO_HELP: &str = "\
With --env compose the same five chapters run on the containers of docker-compose.ratelimit.yml
(project operator-demo unless --project is given), brought up for the demo and taken down
after it (`down -v`: no container, network or volume left). Images come from RATELIMITER_IMAGE,
REDIS_IMAGE, NGINX_IMAGE, PROMETHEUS_IMAGE, GRAFANA_IMAGE when set, else the file's public
defaults (`operator stack up --help` lists every variable). On a machine without a registry,
with local images:
  RATELIMITER_IMAGE=... REDIS_IMAGE=... NGINX_IMAGE=... \\
    operator demo ratelimit --env compose --core-only

Exit codes: 0 when every chapter saw what it expected and nothing was left behind, 1 otherwise
(naming the chapter), 2 on bad usage.";

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
    let kind = args.env.kind();
    args.compose.only_with_compose(kind)?;
    let dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| default_state_dir("demo"));
    let (db, fresh_db) = match &global.db {
        Some(db) => (db.clone(), false),
        None => (dir.join("tickets.db"), true),
    };
    let config = DemoConfig {
        db,
        fresh_db,
        load_rate: args.rate,
        node: args.node,
        ..DemoConfig::default()
    };
    config.validate()?;
    if args.node > 3 {
        return Err(CliError::flag(
            "--node",
            "the demo's stack has nodes 1 to 3",
        ));
    }
    if args.stack.redis == crate::args::stack::RedisKind::Sentinel {
        return Err(CliError::flag(
            "--redis",
            "the demo runs on `single` or `cluster`; for a sentinel set run `operator stack up --redis sentinel` and `operator chaos kill-redis-primary 1`",
        ));
    }
    // Check every flag before anything starts.
    // A fresh admin token and identifier secret per run: the nodes get them in their
    // environment, the demo's monitor the token; neither is ever printed.
    let secrets = NodeSecrets::random()?;
    let planned = match kind {
        EnvKind::Local => {
            let stack = StackConfig {
                secrets,
                ..args.stack.config(dir.clone())?
            };
            // A stock machine may run its own Redis on 6379 (or anything on 8001): the demo
            // moves to free ports rather than fail, and says so.
            let (stack, moves) = stack.with_free_ports();
            for m in &moves {
                eprintln!("operator: {m}");
            }
            Planned::Local(stack)
        }
        EnvKind::Compose => Planned::Compose(ComposeConfig {
            secrets,
            ..args
                .compose
                .config(&args.stack, dir.clone(), Some(DEMO_PROJECT))?
        }),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::flag("--state-dir", format!("{}: {e}", dir.display())))?;
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
    demo::begin(&config, kind.name(), &dir, narrator.as_mut());
    let started = Instant::now();
    // Each environment tears itself down when dropped, should the demo fail before its
    // teardown (an error, a panic).
    let outcome = match planned {
        Planned::Local(stack) => {
            let env = LocalEnv::up(stack).await?;
            env.kill_on_drop(true);
            on(&env, started, config, narrator.as_mut(), pacer.as_mut()).await?
        }
        Planned::Compose(compose) => {
            let env = ComposeEnv::up(compose).await?;
            env.down_on_drop(true);
            on(&env, started, config, narrator.as_mut(), pacer.as_mut()).await?
        }
    };
    if outcome.ok() {
        Ok(exit::OK)
    } else {
        eprintln!("operator: demo failed: {}", outcome.failures().join("; "));
        Ok(exit::FAILURE)
    }
}

/// The stack the demo brings up.
enum Planned {
    Local(StackConfig),
    Compose(ComposeConfig),
}

/// The demo on an environment that is up, then its teardown.
async fn on(
    env: &dyn Environment,
    started: Instant,
    config: DemoConfig,
    narrator: &mut dyn Narrator,
    pacer: &mut dyn Pacer,
) -> Result<DemoOutcome, CliError> {
    demo::stack_up(env, started.elapsed(), narrator).await?;
    let mut outcome = demo::run(
        config,
        env,
        narrator,
        pacer,
        operator_core::signal::shutdown_signal(),
    )
    .await?;
    demo::teardown(env, &mut outcome, narrator).await?;
    Ok(outcome)
}
