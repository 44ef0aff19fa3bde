//! `ratelimiter-bench`: drives load against rate-limiter nodes and reports decisions/s, latency
//! percentiles, errors and, with `--redis-url`, Redis commands per decision (from
//! `INFO commandstats` before and after).

#![allow(clippy::print_stdout)] // the report is the output

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use ratelimiter_bench::grpc::{GrpcLoadConfig, run_grpc};
use ratelimiter_bench::redis_stats::{delta, parse_commandstats, script_calls};
use ratelimiter_bench::{
    Burst, DEFAULT_HOT_KEY, Endpoint, KeyPattern, LoadConfig, LoadMode, LoadReport, OraclePolicy,
    OracleReport, SEED_002_PREFIX, run, run_with_oracle,
};

// The load generator shares the cores with what it measures: keep its allocations cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The key prefix of `--keys many:N`.
const MANY_PREFIX: &str = "bench:k";

// Every `[default: ...]` is rendered from the library's `LoadConfig::default()`.
/// Load generator for ratelimiter-node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Node base URL; repeat for several nodes (connections are spread round-robin).
    #[arg(long = "target", default_values_t = LoadConfig::default().targets)]
    targets: Vec<String>,
    /// Closed loop: this many workers, each with one connection.
    #[arg(long, default_value_t = LoadConfig::default().workers())]
    concurrency: usize,
    /// Open loop at this many requests per second (over `--concurrency` connections).
    #[arg(long)]
    rate: Option<f64>,
    /// How long to run (e.g. 10s, 1m).
    #[arg(long, default_value_t = LoadConfig::default().duration.into())]
    duration: humantime::Duration,
    /// Keys: `hot[:KEY]`, `many:N`, `mixed:HOT_FRACTION:N`, `skewed:TOP_FRACTION:TOP:TAIL`, or
    /// `seed002[:PREFIX]` (= `skewed:0.8:1000:100000`: 80 % of requests on the top 1,000 keys;
    /// keys `bench:s2:top-<i>` and `bench:s2:tail-<i>`, or under `PREFIX:`).
    #[arg(long, default_value_t = keys_spec(&LoadConfig::default().keys))]
    keys: String,
    /// Endpoint: `check` (POST /v1/check), `api` (GET /api/request with X-API-Key) or
    /// `healthz` (GET /healthz: no decision, the HTTP stack's own rate).
    #[arg(long, default_value_t = endpoint_name(LoadConfig::default().endpoint).to_owned())]
    endpoint: String,
    /// Cost sent with each check.
    #[arg(long)]
    cost: Option<u64>,
    /// Open-loop bursts: `EVERY,LENGTH,FACTOR`, e.g. `10s,2s,3`.
    #[arg(long)]
    burst: Option<String>,
    /// Redis to read `INFO commandstats` from, before and after, for commands per decision.
    #[arg(long)]
    redis_url: Option<String>,
    /// Check what was admitted against an exact sliding-window counter of this limit per
    /// `--oracle-window`, replayed from the run's own requests (the node's policy for every key
    /// must be that one window): over-admission per fixed window and drift.
    #[arg(long, requires = "oracle_window", value_name = "LIMIT")]
    oracle_limit: Option<u64>,
    /// The window of `--oracle-limit` (e.g. 1s).
    #[arg(long, requires = "oracle_limit", value_name = "DURATION")]
    oracle_window: Option<humantime::Duration>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Runtime worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Do not print a line per second.
    #[arg(long)]
    quiet: bool,
    /// After the HTTP run, run the same closed loop (concurrency, duration, keys, cost) over gRPC
    /// against this node's Envoy rate-limit service (`http://host:port` of its --grpc-listen),
    /// and print both and their ratio.
    #[arg(long, value_name = "URL")]
    grpc_target: Option<String>,
    /// The domain of the gRPC requests (a domain of the node's --envoy-config).
    #[arg(long, default_value = "bench")]
    grpc_domain: String,
    /// The key of the gRPC requests' one descriptor entry (its value is the load's key).
    #[arg(long, default_value = "key")]
    grpc_descriptor_key: String,
}

/// The keys of `--keys` `hot[:KEY]`, `many:N` or `mixed:FRACTION:N`.
fn keys(spec: &str) -> anyhow::Result<KeyPattern> {
    let parts: Vec<&str> = spec.split(':').collect();
    Ok(match parts.as_slice() {
        ["hot"] => KeyPattern::Hot(DEFAULT_HOT_KEY.into()),
        ["hot", key @ ..] => KeyPattern::Hot(key.join(":")),
        ["many", n] => KeyPattern::Many {
            prefix: MANY_PREFIX.into(),
            count: n.parse().context("many:N")?,
        },
        ["mixed", f, n] => KeyPattern::Mixed {
            hot: DEFAULT_HOT_KEY.into(),
            hot_fraction: f.parse().context("mixed:FRACTION:N")?,
            tail: n.parse().context("mixed:FRACTION:N")?,
        },
        ["seed002"] => KeyPattern::seed_002(),
        ["seed002", prefix @ ..] => match KeyPattern::seed_002() {
            KeyPattern::Skewed {
                top,
                top_fraction,
                tail,
                ..
            } => KeyPattern::Skewed {
                prefix: format!("{}:", prefix.join(":")),
                top,
                top_fraction,
                tail,
            },
            other => other,
        },
        ["skewed", f, top, tail] => KeyPattern::Skewed {
            prefix: SEED_002_PREFIX.into(),
            top_fraction: f.parse().context("skewed:TOP_FRACTION:TOP:TAIL")?,
            top: top.parse().context("skewed:TOP_FRACTION:TOP:TAIL")?,
            tail: tail.parse().context("skewed:TOP_FRACTION:TOP:TAIL")?,
        },
        _ => bail!(
            "--keys {spec:?}: use hot[:KEY], many:N, mixed:FRACTION:N, skewed:FRACTION:TOP:TAIL or seed002"
        ),
    })
}

/// The `--keys` text of `pattern`, the inverse of [`keys`] (its fixed key names are implied).
fn keys_spec(pattern: &KeyPattern) -> String {
    match pattern {
        KeyPattern::Hot(key) if key == DEFAULT_HOT_KEY => "hot".to_owned(),
        KeyPattern::Hot(key) => format!("hot:{key}"),
        KeyPattern::Many { count, .. } => format!("many:{count}"),
        KeyPattern::Mixed {
            hot_fraction, tail, ..
        } => format!("mixed:{hot_fraction}:{tail}"),
        p if *p == KeyPattern::seed_002() => "seed002".to_owned(),
        KeyPattern::Skewed {
            prefix,
            top: 1_000,
            top_fraction: 0.8,
            tail: 100_000,
        } => format!("seed002:{}", prefix.trim_end_matches(':')),
        KeyPattern::Skewed {
            top,
            top_fraction,
            tail,
            ..
        } => format!("skewed:{top_fraction}:{top}:{tail}"),
    }
}

/// The `--endpoint` name of `endpoint`.
fn endpoint_name(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Check => "check",
        Endpoint::ApiRequest => "api",
        Endpoint::Healthz => "healthz",
    }
}

/// The endpoint `--endpoint` names.
fn endpoint(name: &str) -> anyhow::Result<Endpoint> {
    [Endpoint::Check, Endpoint::ApiRequest, Endpoint::Healthz]
        .into_iter()
        .find(|e| endpoint_name(*e) == name)
        .ok_or_else(|| anyhow!("--endpoint {name:?}: use check, api or healthz"))
}

fn burst(spec: &str) -> anyhow::Result<Burst> {
    let parts: Vec<&str> = spec.split(',').collect();
    let [every, length, factor] = parts.as_slice() else {
        bail!("--burst {spec:?}: use EVERY,LENGTH,FACTOR")
    };
    Ok(Burst {
        every: humantime::parse_duration(every)?,
        length: humantime::parse_duration(length)?,
        factor: factor.parse()?,
    })
}

fn commandstats(url: &str) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let mut conn = redis::Client::open(url)?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut conn)?;
    Ok(parse_commandstats(&info))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads.filter(|n| *n > 0) {
        builder.worker_threads(n);
    }
    builder.enable_all().build()?.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let mode = match args.rate {
        Some(rate) => LoadMode::Open {
            rate,
            connections: args.concurrency,
        },
        None => LoadMode::Closed {
            concurrency: args.concurrency,
        },
    };
    let config = LoadConfig {
        targets: args.targets.clone(),
        mode,
        duration: args.duration.into(),
        keys: keys(&args.keys)?,
        endpoint: endpoint(&args.endpoint)?,
        cost: args.cost,
        burst: args.burst.as_deref().map(burst).transpose()?,
        ..LoadConfig::default()
    };
    let before = args.redis_url.as_deref().map(commandstats).transpose()?;
    let quiet = args.quiet || args.json;
    let on_second = |s: &ratelimiter_bench::SecondStats| {
        if !quiet {
            println!(
                "{:>4}s  allowed {:>7}  denied {:>7}  errors {:>5}  p50 {:>6}us  p99 {:>6}us",
                s.second, s.allowed, s.denied, s.errors, s.latency.p50_us, s.latency.p99_us
            );
        }
    };
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let (report, oracle) = match (args.oracle_limit, args.oracle_window) {
        (Some(limit), Some(window)) => {
            let window_ms = u64::try_from(std::time::Duration::from(window).as_millis())
                .context("--oracle-window")?;
            if limit == 0 || window_ms == 0 {
                bail!("--oracle-limit and --oracle-window must be positive");
            }
            let policy = OraclePolicy { limit, window_ms };
            let (r, o) = run_with_oracle(config, policy, interrupted, on_second).await?;
            (r, Some(o))
        }
        _ => (run(config, interrupted, on_second).await?, None),
    };
    let redis = match (&args.redis_url, before) {
        (Some(url), Some(before)) => Some(delta(&before, &commandstats(url)?)),
        _ => None,
    };
    let grpc = match &args.grpc_target {
        Some(target) => Some(grpc_run(&args, target).await?),
        None => None,
    };
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(r) = &redis {
            value["redis_commands"] = serde_json::to_value(r)?;
            value["script_calls_per_decision"] =
                (script_calls(r) as f64 / report.decisions().max(1) as f64).into();
        }
        if let Some(o) = &oracle {
            value["oracle"] = serde_json::to_value(o)?;
        }
        if let Some(g) = &grpc {
            value["grpc"] = serde_json::to_value(g)?;
            value["grpc_over_http"] =
                (g.decisions_per_sec / report.decisions_per_sec.max(1e-9)).into();
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_summary(&args, &report, redis.as_ref());
        if let Some(o) = &oracle {
            print_oracle(o);
        }
        if let Some(g) = &grpc {
            println!(
                "--- grpc {} (domain {}, descriptor key {})",
                args.grpc_target.as_deref().unwrap_or(""),
                args.grpc_domain,
                args.grpc_descriptor_key
            );
            println!("decisions/s   {:.0}", g.decisions_per_sec);
            println!(
                "decisions     {} (allowed {}, denied {})",
                g.decisions(),
                g.allowed,
                g.denied
            );
            println!("errors        {} {:?}", g.errors, g.error_kinds);
            let l = &g.latency;
            println!(
                "latency (us)  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
            );
            println!(
                "grpc/http     {:.2}x decisions/s",
                g.decisions_per_sec / report.decisions_per_sec.max(1e-9)
            );
        }
    }
    Ok(())
}

/// The gRPC phase: the HTTP run's closed loop, keys and cost over Envoy's `ShouldRateLimit`.
async fn grpc_run(args: &Args, target: &str) -> anyhow::Result<LoadReport> {
    if args.rate.is_some() {
        bail!("--grpc-target runs a closed loop only; drop --rate");
    }
    let config = GrpcLoadConfig {
        target: target.to_owned(),
        concurrency: args.concurrency,
        duration: args.duration.into(),
        keys: keys(&args.keys)?,
        domain: args.grpc_domain.clone(),
        descriptor_key: args.grpc_descriptor_key.clone(),
        hits: u32::try_from(args.cost.unwrap_or(0)).context("--cost for gRPC")?,
        request_timeout: LoadConfig::default().request_timeout,
    };
    Ok(run_grpc(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?)
}

fn print_summary(
    args: &Args,
    r: &LoadReport,
    redis: Option<&std::collections::BTreeMap<String, u64>>,
) {
    let mode = match args.rate {
        Some(rate) => format!("open loop {rate}/s over {} connections", args.concurrency),
        None => format!("closed loop, concurrency {}", args.concurrency),
    };
    println!(
        "--- {} target(s), {mode}, keys {}, {:.1}s",
        args.targets.len(),
        args.keys,
        r.elapsed.as_secs_f64()
    );
    println!("decisions/s   {:.0}", r.decisions_per_sec);
    println!(
        "decisions     {} (allowed {}, denied {})",
        r.decisions(),
        r.allowed,
        r.denied
    );
    println!("errors        {} {:?}", r.errors, r.error_kinds);
    let l = &r.latency;
    println!(
        "latency (us)  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.0}",
        l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
    );
    if let Some(cmds) = redis {
        let decisions = r.decisions().max(1) as f64;
        let total: u64 = cmds.values().sum();
        println!(
            "redis         {:.3} script calls (EVALSHA + EVAL + FCALL) per decision; {:.3} commands per decision counting those inside the script",
            script_calls(cmds) as f64 / decisions,
            total as f64 / decisions
        );
        println!("              {cmds:?}");
    }
}

fn print_oracle(o: &OracleReport) {
    println!(
        "oracle        admitted {} vs {} by the exact sliding window (drift {:+.3} %) over {} keys; bound limit x windows {}",
        o.admitted,
        o.oracle_admitted,
        o.drift * 100.0,
        o.keys,
        o.bound
    );
    println!(
        "              over-admission {} in {} fixed windows; {} admitted answers without reset_after_ms; {} decided by the failure mode (degraded)",
        o.over_admission, o.windows_over_limit, o.unplaced, o.degraded
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_endpoint_specs_read_back_what_they_render() {
        for spec in [
            "hot",
            "hot:a:b",
            "many:10",
            "mixed:0.5:100",
            "seed002",
            "seed002:bench:s2t",
            "skewed:0.5:10:100",
        ] {
            assert_eq!(keys_spec(&keys(spec).unwrap()), spec);
        }
        for e in [Endpoint::Check, Endpoint::ApiRequest, Endpoint::Healthz] {
            assert_eq!(endpoint(endpoint_name(e)).unwrap(), e);
        }
        assert!(endpoint("grpc").is_err());
        assert!(keys("few:1").is_err());
    }
}
