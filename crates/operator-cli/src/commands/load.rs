//! `operator load`: steady or bursty decisions against the nodes, a hot key plus a long tail,
//! with allowed, denied and errors reported every second (the ratelimiter-bench engine).

use std::time::Duration;

use clap::{Args, ValueEnum};
use ratelimiter_bench::{
    Burst, Endpoint, KeyPattern, LoadConfig, LoadMode, LoadReport, SecondStats,
};
use ratelimiter_lab::StackConfig;
use serde_json::json;

use crate::args::GlobalArgs;
use crate::args::{StateDirArgs, default_text};
use crate::exit::{self, CliError, CliResult};
use crate::output::print_json;

/// Which keys the requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Keys {
    /// A hot key (--hot-fraction of the requests) plus a long tail of --tail keys.
    Mixed,
    /// Every request on the hot key.
    Hot,
    /// Uniformly over --tail keys.
    Many,
}

/// Flags of `operator load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Node base URLs, comma-separated [default: the nodes of the recorded stack, local or
    /// compose, else http://127.0.0.1:8001..8003]
    #[arg(long, value_delimiter = ',', value_name = "URL,URL,...")]
    pub nodes: Vec<String>,
    /// State directory of the stack whose nodes to load (when --nodes is not given).
    #[command(flatten)]
    pub dir: StateDirArgs,
    /// Checks per second (open loop: sent on schedule, however slow the answers).
    #[arg(long, default_value_t = 200.0, value_name = "PER_SECOND")]
    pub rate: f64,
    /// Closed loop instead: this many workers, each sending as soon as it has an answer.
    #[arg(long, conflicts_with = "rate", value_name = "WORKERS")]
    pub concurrency: Option<usize>,
    /// How long to run.
    #[arg(long, default_value = default_text::duration(LoadConfig::default().duration), value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Key mix.
    #[arg(long, value_enum, default_value = "mixed")]
    pub keys: Keys,
    /// The hot key.
    #[arg(long, default_value = "load:hot", value_name = "KEY")]
    pub hot_key: String,
    /// Share of the requests on the hot key (with --keys mixed).
    #[arg(long, default_value_t = 0.5, value_name = "FRACTION")]
    pub hot_fraction: f64,
    /// Number of long-tail keys.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub tail: u64,
    /// Bursts (open loop): every EVERY, for LENGTH, the rate is multiplied by FACTOR; e.g.
    /// `10s,2s,3`.
    #[arg(long, value_parser = parse_burst, value_name = "EVERY,LENGTH,FACTOR")]
    pub burst: Option<Burst>,
}

fn parse_burst(s: &str) -> Result<Burst, String> {
    let parts: Vec<&str> = s.split(',').collect();
    let [every, length, factor] = parts.as_slice() else {
        return Err(format!(
            "expected EVERY,LENGTH,FACTOR (e.g. 10s,2s,3), got {s:?}"
        ));
    };
    let d = |v: &str| humantime::parse_duration(v).map_err(|e| format!("{v:?}: {e}"));
    Ok(Burst {
        every: d(every)?,
        length: d(length)?,
        factor: factor
            .parse()
            .map_err(|e| format!("factor {factor:?}: {e}"))?,
    })
}

impl LoadArgs {
    fn targets(&self) -> Vec<String> {
        if !self.nodes.is_empty() {
            return self.nodes.clone();
        }
        ratelimiter_lab::recorded_endpoints(&self.dir.resolve("stack"))
            .unwrap_or_else(|| StackConfig::default().endpoints())
            .nodes
    }

    fn config(&self) -> Result<LoadConfig, CliError> {
        let targets = self.targets();
        let mode = match self.concurrency {
            Some(concurrency) => LoadMode::Closed { concurrency },
            None => LoadMode::Open {
                rate: self.rate,
                connections: (targets.len() * 2).max(1),
            },
        };
        let keys = match self.keys {
            Keys::Mixed => KeyPattern::Mixed {
                hot: self.hot_key.clone(),
                hot_fraction: self.hot_fraction,
                tail: self.tail,
            },
            Keys::Hot => KeyPattern::Hot(self.hot_key.clone()),
            Keys::Many => KeyPattern::Many {
                prefix: format!("{}-", self.hot_key),
                count: self.tail,
            },
        };
        let config = LoadConfig {
            targets,
            mode,
            duration: self.duration,
            keys,
            endpoint: Endpoint::Check,
            cost: None,
            burst: self.burst,
            request_timeout: Duration::from_secs(2),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Runs `operator load`.
pub async fn run(global: &GlobalArgs, args: LoadArgs) -> CliResult {
    let config = args.config()?;
    let json = global.json;
    if !json {
        println!(
            "load on {} for {}:",
            config.targets.join(", "),
            crate::output::duration(config.duration)
        );
        println!(
            "{:>5}  {:>8}  {:>8}  {:>7}  {:>9}",
            "sec", "allowed", "denied", "errors", "p99"
        );
    }
    let report = ratelimiter_bench::run(
        config,
        operator_core::signal::shutdown_signal(),
        |s: &SecondStats| print_second(s, json),
    )
    .await?;
    print_total(&report, json);
    Ok(exit::OK)
}

fn print_second(s: &SecondStats, json: bool) {
    if json {
        print_json(&json!({
            "type": "second", "second": s.second, "allowed": s.allowed, "denied": s.denied,
            "errors": s.errors, "p99_us": s.latency.p99_us,
        }));
    } else {
        println!(
            "{:>4}s  {:>8}  {:>8}  {:>7}  {:>7.1}ms",
            s.second,
            s.allowed,
            s.denied,
            s.errors,
            s.latency.p99_us as f64 / 1000.0
        );
    }
}

fn print_total(r: &LoadReport, json: bool) {
    if json {
        print_json(&json!({
            "type": "summary", "elapsed_s": r.elapsed.as_secs_f64(), "allowed": r.allowed,
            "denied": r.denied, "errors": r.errors, "error_kinds": r.error_kinds,
            "decisions_per_sec": r.decisions_per_sec, "latency": r.latency,
        }));
        return;
    }
    println!(
        "total: {} decisions in {} ({:.0}/s): {} allowed, {} denied, {} errors; latency p50 {:.1}ms p99 {:.1}ms",
        r.decisions(),
        crate::output::duration(r.elapsed),
        r.decisions_per_sec,
        r.allowed,
        r.denied,
        r.errors,
        r.latency.p50_us as f64 / 1000.0,
        r.latency.p99_us as f64 / 1000.0
    );
    for (kind, n) in &r.error_kinds {
        println!("  errors {kind}: {n}");
    }
}
