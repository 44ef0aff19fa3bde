//! Steady background load for the demo, on the bench engine, with per-second figures kept so
//! that each chapter can say what the clients saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ratelimiter_bench::{Endpoint, KeyPattern, LoadConfig, LoadMode, SecondStats};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::summary::LoadTally;
use crate::error::Result;

type Seconds = Arc<Mutex<Vec<(Instant, SecondStats)>>>;

/// A load run in the background until dropped.
pub(crate) struct Load {
    seconds: Seconds,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// The demo's load: an open loop at `rate` per second over two connections per node, half on
/// one hot key and half over a long tail of 500 keys.
pub(crate) fn config(nodes: &[String], rate: f64) -> LoadConfig {
    LoadConfig {
        targets: nodes.to_vec(),
        mode: LoadMode::Open {
            rate,
            connections: nodes.len() * 2,
        },
        // Stopped by the demo; the duration is only a bound.
        duration: Duration::from_secs(3_600),
        keys: KeyPattern::Mixed {
            hot: "demo:hot".to_owned(),
            hot_fraction: 0.5,
            tail: 500,
        },
        endpoint: Endpoint::Check,
        cost: None,
        burst: None,
        request_timeout: Duration::from_secs(2),
    }
}

/// One line describing the demo's load at `rate`, before the nodes are known.
pub(crate) fn describe_rate(rate: f64) -> String {
    format!(
        "{rate:.0} checks/s over 2 connections per node, {}",
        describe_keys(&config(&[], rate).keys)
    )
}

fn describe_keys(keys: &KeyPattern) -> String {
    match keys {
        KeyPattern::Mixed {
            hot,
            hot_fraction,
            tail,
        } => format!(
            "{:.0}% on hot key {hot:?}, the rest over {tail} long-tail keys",
            hot_fraction * 100.0
        ),
        KeyPattern::Hot(k) => format!("all on {k:?}"),
        KeyPattern::Many { prefix, count } => format!("over {count} keys {prefix}*"),
        KeyPattern::Skewed {
            top,
            top_fraction,
            tail,
            ..
        } => format!(
            "{:.0}% on {top} top keys, the rest over {tail} long-tail keys",
            top_fraction * 100.0
        ),
    }
}

impl Load {
    /// Starts `config` in the background.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub(crate) fn start(config: LoadConfig) -> Result<Self> {
        config.validate()?;
        let seconds: Seconds = Arc::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let sink = seconds.clone();
        let task = tokio::spawn(async move {
            let on_second = |s: &SecondStats| {
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((Instant::now(), s.clone()));
            };
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = ratelimiter_bench::run(config, shutdown, on_second).await {
                tracing::error!(error = %e, "demo load stopped");
            }
        });
        Ok(Self {
            seconds,
            stop: Some(stop),
            task,
        })
    }

    /// What the clients saw in the seconds reported since `since`.
    pub(crate) fn since(&self, since: Instant) -> LoadTally {
        let seconds = self
            .seconds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut t = LoadTally::default();
        for (_, s) in seconds.iter().filter(|(at, _)| *at > since) {
            t.allowed += s.allowed;
            t.denied += s.denied;
            t.errors += s.errors;
        }
        t
    }

    /// Stops the load and waits for its workers.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
