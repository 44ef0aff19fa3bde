//! The closed loop over gRPC: `concurrency` workers, each with its own HTTP/2 connection (a
//! tonic channel, as Envoy keeps one per worker thread), sending Envoy's `ShouldRateLimit` with
//! one descriptor `[(descriptor_key, <key>)]` as soon as the previous answer arrives. OK counts
//! as allowed, OVER_LIMIT as denied, any gRPC error as an error. The keys are the HTTP run's
//! ([`KeyPattern`]), so the two runs ask the same questions.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::config::KeyPattern;
use crate::error::LoadError;
use crate::keys::KeyGen;
use crate::report::{LoadReport, Percentiles};
use crate::worker::Tally;

/// One gRPC load run.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcLoadConfig {
    /// The node's gRPC address, `http://host:port`.
    pub target: String,
    /// Workers, each with its own connection.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
    /// Keys: the value of the descriptor's one entry.
    pub keys: KeyPattern,
    /// The request's domain.
    pub domain: String,
    /// The key of the descriptor's one entry.
    pub descriptor_key: String,
    /// `hits_addend` (0: 1).
    pub hits: u32,
    /// Per-request timeout; a request past it counts as an error.
    pub request_timeout: Duration,
}

/// Runs `config` until its duration ends or `shutdown` completes.
///
/// # Errors
/// [`LoadError::Config`] for a bad configuration, [`LoadError::Target`] for a target that does
/// not parse. Request failures are counted, not returned.
pub async fn run_grpc(
    config: GrpcLoadConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<LoadReport, LoadError> {
    if config.concurrency == 0 || config.duration.is_zero() {
        return Err(LoadError::Config(
            "grpc load needs a concurrency and a duration above 0".into(),
        ));
    }
    let endpoint = Endpoint::from_shared(config.target.clone())
        .map_err(|_| LoadError::Target(config.target.clone()))?
        .tcp_nodelay(true);
    let config = Arc::new(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for index in 0..config.concurrency {
        let tally = Arc::new(Mutex::new(Tally::new()));
        tallies.push(tally.clone());
        let channel = endpoint.connect_lazy();
        tasks.push(tokio::spawn(worker(
            index,
            channel,
            config.clone(),
            tally,
            stop_rx.clone(),
        )));
    }
    tokio::pin!(shutdown);
    tokio::select! {
        () = tokio::time::sleep(config.duration) => {}
        () = &mut shutdown => {}
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let mut total = Tally::new();
    for t in &tallies {
        let t = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        total.allowed += t.allowed;
        total.denied += t.denied;
        total.errors += t.errors;
        for (k, v) in &t.error_kinds {
            *total.error_kinds.entry(k.clone()).or_insert(0) += v;
        }
        let _ = total.latency.add(&t.latency);
    }
    Ok(LoadReport {
        elapsed,
        allowed: total.allowed,
        denied: total.denied,
        errors: total.errors,
        error_kinds: total.error_kinds,
        decisions_per_sec: (total.allowed + total.denied) as f64 / elapsed.as_secs_f64().max(1e-9),
        latency: Percentiles::of(&total.latency),
        per_second: Vec::new(),
    })
}

async fn worker(
    index: usize,
    channel: Channel,
    config: Arc<GrpcLoadConfig>,
    tally: Arc<Mutex<Tally>>,
    stop: watch::Receiver<bool>,
) {
    let mut client = RateLimitServiceClient::new(channel);
    let mut keys = KeyGen::new(config.keys.clone(), index as u64 + 1);
    let mut key = String::new();
    while !*stop.borrow() {
        keys.next_key(&mut key);
        let request = RateLimitRequest {
            domain: config.domain.clone(),
            descriptors: vec![RateLimitDescriptor {
                entries: vec![Entry {
                    key: config.descriptor_key.clone(),
                    value: key.clone(),
                }],
                ..RateLimitDescriptor::default()
            }],
            hits_addend: config.hits,
        };
        let sent = Instant::now();
        let answer =
            tokio::time::timeout(config.request_timeout, client.should_rate_limit(request)).await;
        let latency_us = u64::try_from(sent.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut t = tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let failure = match answer {
            Ok(Ok(r)) if r.get_ref().overall_code == Code::OverLimit as i32 => {
                t.denied += 1;
                None
            }
            Ok(Ok(_)) => {
                t.allowed += 1;
                None
            }
            Ok(Err(status)) => Some(format!("grpc {:?}", status.code())),
            Err(_) => Some("timeout".to_owned()),
        };
        if let Some(kind) = failure {
            t.errors += 1;
            *t.error_kinds.entry(kind).or_insert(0) += 1;
        }
        let _ = t.latency.record(latency_us.min(60_000_000));
        drop(t);
    }
}
