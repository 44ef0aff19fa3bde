//! `reset_counter`: deletes the counters of one user key. Their names follow from the key schema
//! and the policies (one counter per window of the policy that applies), so the action computes
//! them and deletes exactly those: no walk of the keyspace, the same small cost on any database.

use std::collections::BTreeSet;

use operator_core::ActionReport;
use ratelimiter_schema::{Policy, keys};
use serde_json::json;

use super::policies::read_policies;
use super::target::Target;
use crate::error::{Error, Result};
use crate::redact;

/// The counter names of `key` under every window of every policy that can apply to it: those
/// whose pattern matches it, and `default` (a key matched by no other policy falls to it).
/// Policies of both sets are taken, so counters written under the previous policies go too.
pub(crate) fn counter_names(prefix: &str, key: &str, policies: &[&Policy]) -> Vec<String> {
    let mut names = keys::counter_keys_of(prefix, key, policies.iter().copied());
    names.sort();
    names
}

/// Refuses an API key given in clear: the nodes store only its fingerprint (`api:fp-...`), and
/// the key must not travel into the action log or a ticket.
fn check_key(key: &str) -> Result<()> {
    keys::validate_user_key(key).map_err(|e| Error::Action(format!("reset_counter: key: {e}")))?;
    if redact::is_clear_api_key(key) {
        return Err(Error::Action(
            "reset_counter: key: API keys are stored as fingerprints (api:fp-...); give the \
             fingerprint the nodes list, never the key itself"
                .into(),
        ));
    }
    Ok(())
}

/// `reset_counter`: deletes every counter of user key `key`.
pub(super) async fn reset_counter(target: &Target<'_>, key: &str) -> Result<ActionReport> {
    check_key(key)?;
    let current = read_policies(target).await?;
    let known: Vec<&Policy> = current
        .iter()
        .chain(target.last_policies.as_ref())
        .flat_map(|v| v.policies.iter())
        .collect();
    if known.is_empty() {
        return Err(Error::Action(
            "reset_counter: no policies in Redis and none seen since the monitor started, so the \
             counter names are unknown; run reseed_policies first"
                .into(),
        ));
    }
    let names = counter_names(target.key_prefix, key, &known);
    let targets = names.clone();
    let deleted: Vec<i64> = target
        .redis
        .run(target.redis.timeout() * 2, move |mut c| async move {
            let mut pipe = redis::pipe();
            for k in &targets {
                pipe.cmd("DEL").arg(k);
            }
            pipe.query_async(&mut c).await
        })
        .await?;
    let gone: Vec<&String> = names
        .iter()
        .zip(&deleted)
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k)
        .collect();
    let n = gone.len();
    let policies: BTreeSet<&str> = known
        .iter()
        .filter(|p| p.matches(key))
        .map(|p| p.name.as_str())
        .collect();
    Ok(ActionReport {
        action: "reset_counter".into(),
        changed: n > 0,
        summary: format!(
            "deleted {n} counter{} of key {key:?} ({} window counters of polic{} {} checked)",
            if n == 1 { "" } else { "s" },
            names.len(),
            if policies.len() == 1 { "y" } else { "ies" },
            policies.iter().copied().collect::<Vec<_>>().join(", ")
        ),
        details: json!({
            "key": key,
            "deleted": gone,
            "deleted_total": n,
            "checked": names.len(),
            "policies": policies,
        }),
    })
}

#[cfg(test)]
mod tests {
    use ratelimiter_schema::{PolicySpec, Window, fingerprint};

    use super::*;

    fn policy(name: &str, pattern: Option<&str>, windows: &[u64]) -> Policy {
        let windows = windows
            .iter()
            .map(|&window_ms| Window::new(10, window_ms))
            .collect();
        Policy::new(
            name,
            PolicySpec {
                algorithm: Default::default(),
                pattern: pattern.map(str::to_owned),
                windows,
            },
        )
        .unwrap()
    }

    #[test]
    fn the_names_are_every_window_of_every_policy_that_can_apply() {
        let p = "ratelimit:";
        let default = policy("default", None, &[1_000, 60_000]);
        let users = policy("users", Some("user:*"), &[1_000]);
        let api = policy("api", Some("api:*"), &[5_000]);
        let all = [&default, &users, &api];
        assert_eq!(
            counter_names(p, "user:1", &all),
            [
                keys::counter_key(p, "user:1", "default", 1_000),
                keys::counter_key(p, "user:1", "default", 60_000),
                keys::counter_key(p, "user:1", "users", 1_000),
            ]
        );
        // The same policy seen twice (in Redis and remembered) gives each name once.
        assert_eq!(counter_names(p, "ip:1", &[&default, &default]).len(), 2);
    }

    #[test]
    fn an_api_key_in_clear_is_refused_its_fingerprint_taken() {
        let e = check_key("api:sk-live-123").unwrap_err().to_string();
        assert!(e.contains("fingerprint") && !e.contains("sk-live"), "{e}");
        let fp = fingerprint::fingerprint_identifier(Some(b"s"), "api:sk-live-123");
        check_key(&fp).unwrap();
        check_key("user:42").unwrap();
        assert!(check_key("").is_err());
    }
}
