//! A simulator of the PD and Prometheus HTTP APIs, for tests (feature `simulator`).
//!
//! [`Simulator::start`] serves a simulated PD and a simulated Prometheus on two loopback ports,
//! answering with the shapes of PD v8 and Prometheus (the JSON of `fixtures/`, whose README names
//! the source of each shape). Tests change the cluster between observations: a store goes
//! `Disconnected`, a disk fills, latency rises, a PD member fails its health check, PD or
//! Prometheus stop answering ([`Availability`]).
//!
//! The simulator is strict where the client could be subtly wrong: PD lists only `Up` and
//! `Offline` stores unless asked for every state, as the real one does, and the Prometheus side
//! answers only the two queries the subject must send (grouped `by (instance)` for QPS and `by
//! (le, instance)` for the p99) and rejects anything else as real Prometheus rejects a bad query.
//! Prometheus' `instance` label is each store's status address, as a real scrape gives.
//!
//! It counts requests per path, so tests can check that an observation costs a fixed number of
//! them.

mod pd;
mod prometheus;
mod shared;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use state::{Availability, ClusterState, SimMember, SimStore};

use shared::Shared;

/// A running simulator. Its servers stop when it is dropped.
#[derive(Debug)]
pub struct Simulator {
    pd: SocketAddr,
    prometheus: SocketAddr,
    shared: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Starts the cluster of the fixtures ([`ClusterState::from_fixtures`]) on two free
    /// loopback ports, in the current tokio runtime.
    ///
    /// # Errors
    /// When a port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(ClusterState::from_fixtures()).await
    }

    /// Starts a simulator of `state`.
    ///
    /// # Errors
    /// When a port cannot be bound.
    pub async fn start_with(state: ClusterState) -> std::io::Result<Self> {
        let shared = shared::new(state);
        let pd_listener = TcpListener::bind("127.0.0.1:0").await?;
        let prometheus_listener = TcpListener::bind("127.0.0.1:0").await?;
        let pd = pd_listener.local_addr()?;
        let prometheus = prometheus_listener.local_addr()?;
        let tasks = vec![
            serve("pd", pd_listener, pd::router(Arc::clone(&shared))),
            serve(
                "prometheus",
                prometheus_listener,
                prometheus::router(Arc::clone(&shared)),
            ),
        ];
        Ok(Self {
            pd,
            prometheus,
            shared,
            tasks,
        })
    }

    /// The simulated PD's client URL (`http://127.0.0.1:<port>`).
    pub fn pd_url(&self) -> String {
        format!("http://{}", self.pd)
    }

    /// The simulated Prometheus' URL.
    pub fn prometheus_url(&self) -> String {
        format!("http://{}", self.prometheus)
    }

    /// Changes the cluster; the next requests see the change.
    pub fn update<R>(&self, change: impl FnOnce(&mut ClusterState) -> R) -> R {
        change(
            &mut self
                .shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// A copy of the cluster's state.
    pub fn state(&self) -> ClusterState {
        self.update(|s| s.clone())
    }

    /// Requests served so far, by `"<server> <path>"` (e.g. `"pd /pd/api/v1/stores"`).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the requests served so far.
    pub fn reset_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Sets a store's PD state name (`Up`, `Disconnected`, `Down`, `Offline`, `Tombstone`).
    ///
    /// # Panics
    /// If there is no such store.
    pub fn set_store_state(&self, id: u64, state_name: &str) {
        self.with_store(id, |s| s.state_name = state_name.to_owned());
    }

    /// Sets a store's available space to `fraction` of its capacity.
    ///
    /// # Panics
    /// If there is no such store.
    pub fn set_available_fraction(&self, id: u64, fraction: f64) {
        self.with_store(id, |s| s.set_available_fraction(fraction));
    }

    /// Sets a store's gRPC p99 latency (`None`: no traffic).
    ///
    /// # Panics
    /// If there is no such store.
    pub fn set_p99(&self, id: u64, p99: Option<Duration>) {
        self.with_store(id, |s| s.set_p99(p99));
    }

    /// Sets a store's leader count.
    ///
    /// # Panics
    /// If there is no such store.
    pub fn set_leader_count(&self, id: u64, leaders: u64) {
        self.with_store(id, |s| s.leader_count = leaders);
    }

    /// Sets whether a PD member passes the health check.
    ///
    /// # Panics
    /// If there is no such member.
    pub fn set_member_health(&self, name: &str, healthy: bool) {
        self.update(|s| {
            s.member_mut(name)
                .unwrap_or_else(|| panic!("the simulator has no PD member {name:?}"))
                .healthy = healthy;
        });
    }

    /// Sets how the PD API answers.
    pub fn set_pd(&self, availability: Availability) {
        self.update(|s| s.pd = availability);
    }

    /// Sets how PD's `/members` and `/health` answer while the rest of its API is up.
    pub fn set_membership_api(&self, availability: Availability) {
        self.update(|s| s.membership_api = availability);
    }

    /// Sets how the Prometheus API answers.
    pub fn set_prometheus(&self, availability: Availability) {
        self.update(|s| s.prometheus = availability);
    }

    fn with_store(&self, id: u64, change: impl FnOnce(&mut SimStore)) {
        self.update(|s| {
            change(
                s.store_mut(id)
                    .unwrap_or_else(|| panic!("the simulator has no store {id}")),
            );
        });
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn serve(name: &'static str, listener: TcpListener, router: axum::Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(server = name, error = %e, "simulator server failed");
        }
    })
}
