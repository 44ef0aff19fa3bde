//! One load worker: one keep-alive HTTP/1.1 connection (hyper, no pool), requests one at a time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{Endpoint, LoadConfig, LoadMode};
use crate::keys::KeyGen;
use crate::oracle::{Sample, is_degraded, reset_after_ms};

/// What a worker has recorded since the reporter last took it.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) allowed: u64,
    pub(crate) denied: u64,
    pub(crate) errors: u64,
    pub(crate) error_kinds: std::collections::BTreeMap<String, u64>,
    pub(crate) latency: Histogram<u64>,
    /// Every answered decision, when the run is checked against the oracle.
    pub(crate) samples: Vec<Sample>,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            allowed: 0,
            denied: 0,
            errors: 0,
            error_kinds: std::collections::BTreeMap::new(),
            // 1 µs to 60 s at 3 significant digits: the bounds are valid, so this cannot fail.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)
                .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
            samples: Vec::new(),
        }
    }
}

/// One worker's task: its connection's address, the shared configuration, where it records.
pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) addr: String,
    pub(crate) config: Arc<LoadConfig>,
    pub(crate) tally: Arc<Mutex<Tally>>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) start: Instant,
    /// Whether to record a [`Sample`] per answered decision (for the oracle).
    pub(crate) track: bool,
}

impl Worker {
    pub(crate) async fn run(mut self) {
        let mut keys = KeyGen::new(self.config.keys.clone(), self.index as u64 + 1);
        let mut key = String::new();
        let mut conn: Option<SendRequest<Full<Bytes>>> = None;
        let workers = self.config.workers() as f64;
        // Open loop: this worker's share of the rate, phase-shifted so workers interleave.
        let mut next = self.start;
        if let LoadMode::Open { rate, .. } = self.config.mode {
            next += Duration::from_secs_f64(self.index as f64 / rate);
        }
        loop {
            if *self.stop.borrow() {
                return;
            }
            let scheduled = match self.config.mode {
                LoadMode::Closed { .. } => Instant::now(),
                LoadMode::Open { rate, .. } => {
                    let factor = self.burst_factor(next);
                    let at = next;
                    next += Duration::from_secs_f64(workers / (rate * factor));
                    if at > Instant::now() {
                        // On schedule: wait, and time the request from when it is really sent
                        // (the timer wheel has 1 ms granularity; its lateness is ours, not the
                        // server's).
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = self.stop.changed() => return,
                        }
                        Instant::now()
                    } else {
                        // Behind schedule because the previous answer was slow: time from the
                        // scheduled instant, so the server's slowness is not hidden.
                        at
                    }
                }
            };
            let key_id = keys.next_key(&mut key);
            let outcome =
                tokio::time::timeout(self.config.request_timeout, self.send(&mut conn, &key)).await;
            let latency_us = u64::try_from(scheduled.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            let (status, failed) = match outcome {
                Ok(Ok((status @ (200 | 429), (reset, degraded)))) => {
                    if self.track {
                        let sample = Sample {
                            key: key_id,
                            at_ms: unix_ms(),
                            allowed: status == 200,
                            reset_after_ms: reset,
                            degraded,
                        };
                        self.tally
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .samples
                            .push(sample);
                    }
                    (status, None)
                }
                Ok(Ok((status, _))) => (status, Some(format!("status {status}"))),
                Ok(Err(kind)) => (0, Some(kind)),
                Err(_) => (0, Some("timeout".to_owned())),
            };
            if status == 0 {
                conn = None;
            }
            {
                let mut t = self
                    .tally
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match (status, failed) {
                    (_, Some(kind)) => error(&mut t, kind),
                    (200, None) => t.allowed += 1,
                    _ => t.denied += 1,
                }
                let _ = t.latency.record(latency_us.min(60_000_000));
            }
            if conn.is_none() && matches!(self.config.mode, LoadMode::Closed { .. }) {
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    fn burst_factor(&self, at: Instant) -> f64 {
        match self.config.burst {
            Some(b) => {
                let phase = at.duration_since(self.start).as_nanos() % b.every.as_nanos();
                if phase < b.length.as_nanos() {
                    b.factor
                } else {
                    1.0
                }
            }
            None => 1.0,
        }
    }

    /// Sends one request; its status and, when tracking, the answer's `reset_after_ms` and
    /// whether it was decided by the failure mode.
    async fn send(
        &self,
        conn: &mut Option<SendRequest<Full<Bytes>>>,
        key: &str,
    ) -> Result<(u16, (Option<u64>, bool)), String> {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect: {}", e.kind()))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|_| "handshake".to_owned())?;
            tokio::spawn(connection);
            *conn = Some(sender);
        }
        let Some(sender) = conn.as_mut() else {
            unreachable!("connection set above")
        };
        sender
            .ready()
            .await
            .map_err(|_| "connection closed".to_owned())?;
        let request = match self.config.endpoint {
            Endpoint::Check => {
                let body = match self.config.cost {
                    Some(c) => format!("{{\"key\":\"{key}\",\"cost\":{c}}}"),
                    None => format!("{{\"key\":\"{key}\"}}"),
                };
                Request::builder()
                    .method(Method::POST)
                    .uri("/v1/check")
                    .header("host", &self.addr)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
            }
            Endpoint::ApiRequest => Request::builder()
                .method(Method::GET)
                .uri("/api/request")
                .header("host", &self.addr)
                .header("x-api-key", key)
                .body(Full::new(Bytes::new())),
            Endpoint::Healthz => Request::builder()
                .method(Method::GET)
                .uri("/healthz")
                .header("host", &self.addr)
                .body(Full::new(Bytes::new())),
        }
        .map_err(|_| "request".to_owned())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| "send".to_owned())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| "body".to_owned())?;
        let seen = if self.track {
            let body = body.to_bytes();
            (reset_after_ms(&body), is_degraded(&body))
        } else {
            (None, false)
        };
        Ok((status, seen))
    }
}

/// Unix ms by the system clock (Redis `TIME` reads the same clock on this machine).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn error(t: &mut Tally, kind: String) {
    t.errors += 1;
    *t.error_kinds.entry(kind).or_insert(0) += 1;
}
