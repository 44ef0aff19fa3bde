//! `ratelimiter-node`: parses flags (with `RATELIMITER_*` environment fallbacks), validates the
//! configuration before binding the port, and serves until SIGINT or SIGTERM.

#![allow(clippy::print_stderr)] // configuration errors are reported on stderr before tracing is up

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

mod otlp_args;

use clap::Parser;
use ratelimiter_node::config::{Config, default_node_id, load_policies_file, parse_trusted_proxy};
use ratelimiter_node::{Node, serve};
use ratelimiter_schema::{FailureMode, LimiterMode, PolicySet, RedisMode};

// Many small allocations per request (JSON, headers, Redis frames): mimalloc keeps them cheap
// and thread-local instead of contending in glibc's arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The library's [`Config::default`], read once: the `[default: ...]` of every flag comes from it.
fn defaults() -> &'static Config {
    static DEFAULTS: OnceLock<Config> = OnceLock::new();
    DEFAULTS.get_or_init(Config::default)
}

/// A duration in whole milliseconds, as the `*_ms` flags take it.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A distributed rate-limiter node on Redis.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to serve HTTP on.
    #[arg(long, env = "RATELIMITER_LISTEN", default_value_t = defaults().listen)]
    listen: SocketAddr,
    /// Address other nodes and the operator should use for this node (default: the bound address).
    #[arg(long, env = "RATELIMITER_ADVERTISE")]
    advertise: Option<String>,
    /// Redis URL: redis://[:password@]host:port[/db], or rediss:// for TLS. With --redis-mode
    /// cluster: seed nodes of the cluster, comma-separated; with sentinel: the sentinels,
    /// comma-separated (their password, if any, is also the primary's).
    #[arg(long, env = "RATELIMITER_REDIS_URL", default_value_t = defaults().redis_url.clone())]
    redis_url: String,
    /// How Redis is reached: single (one server), cluster (a Redis Cluster; keys are routed by
    /// slot, one circuit breaker per primary) or sentinel (the primary the sentinels name,
    /// followed across failovers).
    #[arg(long, env = "RATELIMITER_REDIS_MODE", default_value_t = defaults().redis_mode)]
    redis_mode: RedisMode,
    /// With --redis-mode sentinel: the name of the primary set the sentinels watch (`sentinel
    /// monitor NAME ...`).
    #[arg(long, env = "RATELIMITER_SENTINEL_MASTER", value_name = "NAME")]
    sentinel_master: Option<String>,
    /// PEM file of the CA to trust for rediss:// (default: the built-in web roots).
    #[arg(long, env = "RATELIMITER_REDIS_CA_FILE")]
    redis_ca_file: Option<PathBuf>,
    /// This node's id (default: the host name; give each node on one host its own).
    #[arg(long, env = "RATELIMITER_NODE_ID")]
    node_id: Option<String>,
    /// Prefix of every Redis key.
    #[arg(long, env = "RATELIMITER_KEY_PREFIX", default_value_t = defaults().key_prefix.clone())]
    key_prefix: String,
    /// TOML file of policies seeded into Redis when it has none (default: `default`, 100/s).
    #[arg(long, env = "RATELIMITER_POLICIES")]
    policies: Option<PathBuf>,
    /// What to decide while Redis cannot answer: open (allow), closed (deny with 503) or local
    /// (enforce in process at this node's share of each limit).
    #[arg(long, env = "RATELIMITER_FAILURE_MODE", default_value_t = defaults().failure_mode)]
    failure_mode: FailureMode,
    /// How decisions are taken: atomic (one Lua script checks and consumes: exact), or a
    /// teaching mode that is NOT exact, never for production: naive (reads the counters, decides,
    /// then increments them in a second call: concurrent requests race past the limit) or memory
    /// (counters in this process only: each node admits the whole limit).
    #[arg(long, env = "RATELIMITER_LIMITER_MODE", default_value_t = defaults().limiter_mode)]
    limiter_mode: LimiterMode,
    /// Longest wait for one Redis call, in ms; past it the request is decided by the failure mode.
    #[arg(
        long,
        env = "RATELIMITER_REDIS_TIMEOUT_MS",
        default_value_t = millis(defaults().redis_timeout)
    )]
    redis_timeout_ms: u64,
    /// Bearer token required by every /v1/* management endpoint, reads included (decisions,
    /// health, readiness and /metrics stay open). Prefer the environment variable: a flag's value
    /// is visible in the process list.
    #[arg(long, env = "RATELIMITER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    // -- security: trusted proxies and the identifier secret --
    /// Proxies (CIDR or address, comma-separated) whose X-Forwarded-For / Forwarded headers name
    /// the client; from any other peer those headers are ignored (default: none).
    #[arg(
        long,
        env = "RATELIMITER_TRUSTED_PROXIES",
        value_name = "CIDR[,CIDR...]",
        value_delimiter = ',',
        value_parser = proxy_entry
    )]
    trusted_proxies: Vec<ProxyEntry>,
    /// Secret under which API keys are fingerprinted (HMAC-SHA-256) before they reach Redis,
    /// metrics, logs or answers; the same on every node. Prefer the environment variable.
    #[arg(long, env = "RATELIMITER_IDENTIFIER_SECRET", hide_env_values = true)]
    identifier_secret: Option<String>,
    /// Fault injection for testing clock-skew detection: shifts this node's clock (the clock of
    /// the `local` failure mode, reported as `now_ms` and `clock_skew_ms` in /v1/node) by this
    /// many ms. Shared limiting uses Redis time only.
    #[arg(
        long,
        env = "RATELIMITER_CLOCK_OFFSET_MS",
        default_value_t = defaults().clock_offset_ms,
        allow_negative_numbers = true
    )]
    clock_offset_ms: i64,
    // -- abuse protection (docs/ABUSE.md) --
    /// Distinct API keys one client address may use per minute on /api/request before it is
    /// blocked (0: off).
    #[arg(long, env = "RATELIMITER_ENUMERATION_LIMIT", default_value_t = defaults().abuse.enumeration_limit)]
    enumeration_limit: u64,
    /// How long a client that enumerated keys or used a honeypot key stays blocked (e.g. 10m,
    /// 30s, 1h).
    #[arg(long, env = "RATELIMITER_ENUMERATION_BLOCK", default_value = "10m", value_parser = humantime::parse_duration)]
    enumeration_block: Duration,
    /// Honeypot API keys, comma-separated, as values or fingerprints (fp-...): using one blocks
    /// the client at once.
    #[arg(long, env = "RATELIMITER_HONEYPOT_KEYS", hide_env_values = true)]
    honeypot_keys: Option<String>,
    /// Above this share of Redis maxmemory, keys without a counter are limited in process at
    /// this node's share (0: off).
    #[arg(long, env = "RATELIMITER_MEMORY_GUARD_RATIO", default_value_t = defaults().abuse.memory_guard_ratio)]
    memory_guard_ratio: f64,
    /// Runtime worker threads (default: one per CPU).
    #[arg(long, env = "RATELIMITER_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// How often to check Redis for policy changes, in ms.
    #[arg(
        long,
        env = "RATELIMITER_POLICY_POLL_MS",
        default_value_t = millis(defaults().policy_poll_interval)
    )]
    policy_poll_ms: u64,
    // -- forward-auth (GET /v1/forward-auth, docs/GATEWAYS.md) --
    /// Request header that keys a GET /v1/forward-auth request (its value fingerprinted like
    /// X-API-Key on /api/request); without it, the client address (see --trusted-proxies).
    #[arg(
        long,
        env = "RATELIMITER_FORWARD_AUTH_HEADER",
        default_value_t = defaults().forward_auth_header.clone()
    )]
    forward_auth_header: String,
    /// Status of a GET /v1/forward-auth denial, 400 to 599 (for nginx auth_request, which
    /// passes only 401 and 403: 403 with `error_page 403 =429`).
    #[arg(
        long,
        env = "RATELIMITER_FORWARD_AUTH_DENY_STATUS",
        default_value_t = defaults().forward_auth_deny_status,
        value_parser = clap::value_parser!(u16).range(400..=599)
    )]
    forward_auth_deny_status: u16,
    /// Do not serve: GET this URL once (e.g. `http://127.0.0.1:8080/readyz`) and exit 0 if it
    /// answers 2xx within 2 s, 1 otherwise. For container health checks without curl.
    #[arg(long, value_name = "URL")]
    probe: Option<String>,
    // -- Envoy's rate-limit service (docs/ENVOY.md) --
    /// Serve Envoy's rate-limit service (envoy.service.ratelimit.v3) and grpc.health.v1 over
    /// gRPC on this address (e.g. 127.0.0.1:8081); off when unset.
    #[arg(long, env = "RATELIMITER_GRPC_LISTEN", value_name = "ADDR")]
    grpc_listen: Option<SocketAddr>,
    /// PEM certificate (chain) for gRPC over TLS; needs --grpc-tls-key.
    #[arg(
        long,
        env = "RATELIMITER_GRPC_TLS_CERT",
        value_name = "FILE",
        requires = "grpc_tls_key"
    )]
    grpc_tls_cert: Option<PathBuf>,
    /// PEM private key for gRPC over TLS; needs --grpc-tls-cert.
    #[arg(
        long,
        env = "RATELIMITER_GRPC_TLS_KEY",
        value_name = "FILE",
        requires = "grpc_tls_cert"
    )]
    grpc_tls_key: Option<PathBuf>,
    /// Add RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset to the gRPC answers'
    /// response_headers_to_add (as envoyproxy/ratelimit's LIMIT_RESPONSE_HEADERS_ENABLED).
    #[arg(long, env = "RATELIMITER_RLS_RESPONSE_HEADERS")]
    rls_response_headers: bool,
    /// envoyproxy/ratelimit YAML configuration file (one domain each; repeatable, or
    /// comma-separated in the variable). Loaded into the policies, reloaded when it changes; a bad
    /// file keeps the last good content.
    #[arg(
        long,
        env = "RATELIMITER_ENVOY_CONFIG",
        value_name = "FILE",
        value_delimiter = ','
    )]
    envoy_config: Vec<PathBuf>,
    // -- near cache (docs/NEAR_CACHE.md) --
    /// Decide hot keys without a Redis call: denials cached until Redis would admit again, and
    /// small leases of quota (counted in Redis at once, under 1 % of the limit over all nodes)
    /// spent locally. Never admits what Redis would deny.
    #[arg(long, env = "RATELIMITER_NEAR_CACHE")]
    near_cache: bool,
    /// Bound of the near cache, in (estimated) bytes; the oldest entries are evicted past it.
    #[arg(
        long,
        env = "RATELIMITER_NEAR_CACHE_MAX_BYTES",
        default_value_t = defaults().near_cache_max_bytes
    )]
    near_cache_max_bytes: u64,
    // -- tracing (README "Tracing (OpenTelemetry)") --
    #[command(flatten)]
    otlp: otlp_args::OtlpArgs,
}

/// One `--trusted-proxies` entry; an empty one (an empty variable, a trailing comma) is none.
#[derive(Debug, Clone)]
struct ProxyEntry(Option<ipnet::IpNet>);

fn proxy_entry(text: &str) -> Result<ProxyEntry, String> {
    if text.trim().is_empty() {
        return Ok(ProxyEntry(None));
    }
    parse_trusted_proxy(text).map(|net| ProxyEntry(Some(net)))
}

fn config(args: Args) -> Result<Config, ratelimiter_node::ConfigError> {
    let seed = match &args.policies {
        Some(path) => load_policies_file(path)?,
        None => PolicySet::builtin(),
    };
    let redis_ca_pem =
        match &args.redis_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| {
                ratelimiter_node::ConfigError::CaRead {
                    path: path.clone(),
                    source,
                }
            })?),
            None => None,
        };
    let config = Config {
        listen: args.listen,
        redis_ca_pem,
        advertise: args.advertise,
        redis_url: args.redis_url,
        redis_mode: args.redis_mode,
        sentinel_master: args.sentinel_master,
        node_id: args.node_id.unwrap_or_else(default_node_id),
        key_prefix: args.key_prefix,
        seed_policies: seed,
        failure_mode: args.failure_mode,
        limiter_mode: args.limiter_mode,
        redis_timeout: Duration::from_millis(args.redis_timeout_ms),
        admin_token: args.admin_token,
        clock_offset_ms: args.clock_offset_ms,
        policy_poll_interval: Duration::from_millis(args.policy_poll_ms.clamp(10, 500)),
        trusted_proxies: args
            .trusted_proxies
            .into_iter()
            .filter_map(|e| e.0)
            .collect(),
        identifier_secret: args.identifier_secret,
        forward_auth_header: args.forward_auth_header,
        forward_auth_deny_status: args.forward_auth_deny_status,
        grpc_listen: args.grpc_listen,
        grpc_tls: args.grpc_tls_cert.zip(args.grpc_tls_key),
        rls_response_headers: args.rls_response_headers,
        envoy_config: args.envoy_config,
        near_cache: args.near_cache,
        near_cache_max_bytes: args.near_cache_max_bytes,
        abuse: ratelimiter_node::abuse::AbuseConfig {
            enumeration_limit: args.enumeration_limit,
            enumeration_block: args.enumeration_block,
            honeypot_keys: args
                .honeypot_keys
                .as_deref()
                .map(ratelimiter_node::abuse::parse_honeypot_keys)
                .unwrap_or_default(),
            memory_guard_ratio: args.memory_guard_ratio,
            ..defaults().abuse.clone()
        },
        ..Config::default()
    };
    config.validate()?;
    Ok(config)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(url) = &args.probe {
        return match ratelimiter_node::probe::probe(url, Duration::from_secs(2)) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ratelimiter-node: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let worker_threads = args.worker_threads;
    let otlp = match args.otlp.config() {
        Ok(otlp) => otlp,
        Err(e) => {
            eprintln!("ratelimiter-node: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ratelimiter-node: {e}");
            return ExitCode::from(2);
        }
    };
    // A bad --envoy-config at start is a usage error (later, a bad edit keeps the last good one).
    for path in &config.envoy_config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --envoy-config {}: {e}", path.display()))
            .and_then(|text| {
                ratelimiter_node::rls::DomainConfig::from_yaml(&path.display().to_string(), &text)
                    .map_err(|e| format!("--envoy-config: {e}"))
            });
        if let Err(e) = text {
            eprintln!("ratelimiter-node: {e}");
            return ExitCode::from(2);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // redis-rs warns on every reconnect attempt to a dead cluster member (hundreds
                // per second during a failover); the node logs the outage itself, once.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,redis=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads.filter(|n| *n > 0) {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ratelimiter-node: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, otlp)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ratelimiter-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, otlp: Option<otlp_export::OtlpConfig>) -> anyhow::Result<()> {
    let listen = config.listen;
    let grpc_listen = config.grpc_listen;
    let tracing = otlp.map(|c| otlp_export::install(&c)).transpose()?;
    let node = Node::new(config)?;
    if let Some(tracing) = &tracing {
        node.set_tracer(tracing.tracer());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let grpc = async {
        let Some(addr) = grpc_listen else {
            return Ok(());
        };
        let grpc_listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on --grpc-listen {addr}: {e}"))?;
        ratelimiter_node::grpc::serve_grpc(grpc_listener, node.clone(), stopped(stop_rx.clone()))
            .await
            .map_err(anyhow::Error::from)
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let http = async {
        serve(listener, node.clone(), stopped(stop_rx.clone()))
            .await
            .map_err(anyhow::Error::from)
    };
    // A gRPC server that cannot start (a bad certificate) stops the node with its error.
    let served = tokio::try_join!(http, grpc);
    // The spans still queued are exported before the process exits.
    if let Some(tracing) = tracing {
        tracing.shutdown().await;
    }
    served.map(|_| ())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
