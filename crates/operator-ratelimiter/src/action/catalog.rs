//! [`RateLimitAction`]: what the operator may do to the rate limiter, in its wire form, and the
//! catalog that tells a diagnoser (or a model) what each action does.

use operator_core::{Action, ActionSpec};
use serde::{Deserialize, Serialize};

/// What the operator may do to the rate limiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    content = "args",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum RateLimitAction {
    /// Deletes every counter of one user key (every window of every policy that can apply, names
    /// computed from the policies): its limits start afresh.
    ResetCounter {
        /// The user key, e.g. `user:42`; an API key as its fingerprint (`api:fp-...`).
        key: String,
    },
    /// Sets the limit of one window of an existing policy (adding the window if the policy has no
    /// window of that length).
    UpdatePolicy {
        /// Policy name.
        name: String,
        /// New limit.
        limit: u64,
        /// Window length in ms.
        window_ms: u64,
    },
    /// Gives every key under the prefix that has no TTL the TTL it should have (counters: twice
    /// their window; policies and node registry: 7 days; others: the configured repair TTL), in
    /// batches of at most 500 keys.
    RepairStuckKeys {},
    /// When Redis has no policies, writes back the last valid policy set the monitor saw there.
    ReseedPolicies {},
}

impl Action for RateLimitAction {
    fn catalog() -> Vec<ActionSpec> {
        vec![
            ActionSpec::new(
                "reset_counter",
                "Delete every counter of one user key (every window of every policy that can apply), so its \
                 limits start afresh.",
            )
            .param("key", "string", "the user key, e.g. user:42; an API key as its fingerprint api:fp-..."),
            ActionSpec::new(
                "update_policy",
                "Set the limit of one window of an existing policy (the policy version is bumped, so \
                 every node reloads it within a second).",
            )
            .param("name", "string", "policy name")
            .param("limit", "integer", "new limit, at least 1")
            .param("window_ms", "integer", "length of the window to change, in ms"),
            ActionSpec::new(
                "repair_stuck_keys",
                "Give every key under the prefix that has no TTL the TTL it should have (counters: twice their \
                 window; policies and node registry: 7 days), in batches of at most 500 keys. Uses PEXPIRE NX, \
                 so keys that meanwhile got a TTL are left alone.",
            ),
            ActionSpec::new(
                "reseed_policies",
                "If Redis holds no policies, write back the last valid policy set the monitor observed there \
                 (newer than the nodes' seed files: changes made through the API are kept).",
            ),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            RateLimitAction::ResetCounter { .. } => "reset_counter",
            RateLimitAction::UpdatePolicy { .. } => "update_policy",
            RateLimitAction::RepairStuckKeys {} => "repair_stuck_keys",
            RateLimitAction::ReseedPolicies {} => "reseed_policies",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn actions_parse_from_their_wire_form() {
        let a: RateLimitAction =
            serde_json::from_value(json!({"action": "reset_counter", "args": {"key": "user:1"}}))
                .unwrap();
        assert_eq!(
            a,
            RateLimitAction::ResetCounter {
                key: "user:1".into()
            }
        );
        let a: RateLimitAction =
            serde_json::from_value(json!({"action": "repair_stuck_keys", "args": {}})).unwrap();
        assert_eq!(a.name(), "repair_stuck_keys");
        let bad =
            serde_json::from_value::<RateLimitAction>(json!({"action": "flushall", "args": {}}));
        assert!(bad.is_err(), "only declared actions exist");
        let catalog: Vec<String> = RateLimitAction::catalog()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            catalog,
            [
                "reset_counter",
                "update_policy",
                "repair_stuck_keys",
                "reseed_policies"
            ]
        );
    }
}
