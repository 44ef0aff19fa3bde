//! What the two simulated servers and the test share: the cluster's state and the request
//! counts, and the gate every request passes first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::response::Response;

use super::state::{Availability, ClusterState};

/// State shared by the two servers and the test.
#[derive(Debug)]
pub(super) struct Inner {
    /// The cluster the servers answer from.
    pub(super) state: Mutex<ClusterState>,
    /// Requests served so far, by `"<server> <path>"`.
    pub(super) requests: Mutex<BTreeMap<String, u64>>,
}

/// The handle the servers and the [`Simulator`](super::Simulator) hold.
pub(super) type Shared = Arc<Inner>;

/// A fresh shared state answering from `state`, with no request counted.
pub(super) fn new(state: ClusterState) -> Shared {
    Arc::new(Inner {
        state: Mutex::new(state),
        requests: Mutex::new(BTreeMap::new()),
    })
}

/// Counts the request and applies the server's availability: the state to answer from, an
/// error response, or never.
pub(super) async fn gate(
    shared: &Shared,
    server: &str,
    path: &str,
    availability: impl Fn(&ClusterState) -> Availability,
    error: impl Fn(u16) -> Response,
) -> Result<ClusterState, Response> {
    *shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(format!("{server} {path}"))
        .or_default() += 1;
    let (available, state) = {
        let state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        (availability(&state), state.clone())
    };
    match available {
        Availability::Up => Ok(state),
        Availability::Error(status) => Err(error(status)),
        Availability::Hang => std::future::pending().await,
    }
}
