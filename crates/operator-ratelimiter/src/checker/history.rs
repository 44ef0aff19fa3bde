//! Questions about the recent history of observations.

use std::collections::BTreeSet;
use std::time::Duration;

use operator_core::History;

use crate::observation::{NodeView, Observation};

/// The most recent earlier observation in which Redis answered.
pub(crate) fn previous_redis(history: &History<Observation>) -> Option<&Observation> {
    history
        .iter()
        .rev()
        .map(|e| &*e.observation)
        .find(|o| o.redis.info.is_some())
}

/// The most recent earlier view of the node at `addr` that answered `/v1/node`.
pub(crate) fn previous_node<'a>(
    history: &'a History<Observation>,
    addr: &str,
) -> Option<&'a NodeView> {
    history
        .iter()
        .rev()
        .filter_map(|e| e.observation.node(addr))
        .find(|n| n.info.is_some())
}

/// The previous observation and its view of the node at `addr`, whatever that view says;
/// `None` when there is no earlier observation or the node was not in it.
pub(crate) fn last_view<'a>(
    history: &'a History<Observation>,
    addr: &str,
) -> Option<(&'a Observation, &'a NodeView)> {
    let previous = &*history.latest()?.observation;
    Some((previous, previous.node(addr)?))
}

/// How long `holds` has been true without a break, ending with `current` (zero when it is
/// false now).
pub(crate) fn held_for(
    current: &Observation,
    history: &History<Observation>,
    holds: impl Fn(&Observation) -> bool,
) -> Duration {
    if !holds(current) {
        return Duration::ZERO;
    }
    let mut since = current.observed_at;
    for entry in history.iter().rev() {
        if !holds(&entry.observation) {
            break;
        }
        since = entry.observation.observed_at;
    }
    (current.observed_at - since).to_std().unwrap_or_default()
}

/// Ids of every node the configured nodes reported being, now or earlier.
pub(crate) fn known_node_ids<'a>(
    current: &'a Observation,
    history: &'a History<Observation>,
) -> BTreeSet<&'a str> {
    std::iter::once(current)
        .chain(history.iter().map(|e| &*e.observation))
        .flat_map(|o| o.nodes.iter().filter_map(NodeView::id))
        .collect()
}

/// Ids of the registered nodes last reported Down (for freezing their alerts when the registry
/// cannot be read).
pub(crate) fn registry_ids(history: &History<Observation>) -> Vec<String> {
    previous_redis(history)
        .and_then(|o| o.redis.registry.as_ref())
        .map(|r| r.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default()
}

/// Policies last reported over-admitted.
pub(crate) fn over_admitted_policies(history: &History<Observation>) -> BTreeSet<String> {
    history
        .iter()
        .rev()
        .find_map(|e| e.observation.redis.keys.as_ref())
        .map(|k| k.over_admitted.iter().map(|o| o.policy.clone()).collect())
        .unwrap_or_default()
}
