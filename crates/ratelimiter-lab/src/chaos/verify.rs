//! Verifications shared by faults and undos: is the stack whole again?

use std::time::Duration;

use ratelimiter_schema::keys;

use super::report::Check;
use crate::environment::Environment;
use crate::human;
use crate::probe::{NodeProbe, RedisProbe, wait_until};

/// How long verifications wait for the stack to repair itself.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(15);

/// A Redis probe on the stack's Redis.
pub(super) fn redis(env: &dyn Environment) -> crate::Result<RedisProbe> {
    RedisProbe::new(&env.endpoints().redis_url, Duration::from_millis(500))
}

/// A node probe with the stack's admin token.
pub(super) fn nodes(env: &dyn Environment) -> crate::Result<NodeProbe> {
    Ok(NodeProbe::new(Duration::from_millis(500))?.with_token(env.endpoints().node_token))
}

/// Redis answers PING (waiting up to the verification timeout).
pub(super) async fn redis_answers(redis: &RedisProbe) -> Check {
    match wait_until(VERIFY_TIMEOUT, Duration::from_millis(20), || redis.ping()).await {
        Some(d) => Check::new(
            "Redis answers PING",
            true,
            format!("answered after {}", human::duration(d)),
        ),
        None => Check::new(
            "Redis answers PING",
            false,
            format!("no answer within {}", human::duration(VERIFY_TIMEOUT)),
        ),
    }
}

/// The policies hash exists (the nodes seed or restore it).
pub(super) async fn policies_present(redis: &RedisProbe, prefix: &str) -> Check {
    let key = keys::policies_key(prefix);
    let exists = || async {
        redis
            .query::<bool>(redis::cmd("EXISTS").arg(&key))
            .await
            .unwrap_or(false)
    };
    match wait_until(VERIFY_TIMEOUT, Duration::from_millis(10), exists).await {
        Some(d) => Check::new(
            "the policies are in Redis",
            true,
            format!("{key} present after {}", human::duration(d)),
        ),
        None => Check::new(
            "the policies are in Redis",
            false,
            format!(
                "{key} still missing after {}",
                human::duration(VERIFY_TIMEOUT)
            ),
        ),
    }
}

/// Every node answers `/readyz` with 200.
pub(super) async fn nodes_ready(env: &dyn Environment) -> Check {
    let Ok(probe) = nodes(env) else {
        return Check::new("every node is ready", false, "no HTTP client");
    };
    let urls = env.endpoints().nodes;
    let all = || async {
        for u in &urls {
            if !probe.ready(u).await {
                return false;
            }
        }
        true
    };
    match wait_until(VERIFY_TIMEOUT, Duration::from_millis(50), all).await {
        Some(d) => Check::new(
            "every node is ready",
            true,
            format!("{} nodes ready after {}", urls.len(), human::duration(d)),
        ),
        None => {
            let mut not_ready = Vec::new();
            for (i, u) in urls.iter().enumerate() {
                if !probe.ready(u).await {
                    not_ready.push(format!("node-{}", i + 1));
                }
            }
            Check::new(
                "every node is ready",
                false,
                format!(
                    "{} not ready after {}",
                    not_ready.join(", "),
                    human::duration(VERIFY_TIMEOUT)
                ),
            )
        }
    }
}

/// Redis answers, holds the policies, and every node is ready. On a Redis Cluster: every slot
/// served and every primary with a live replica, the policies on their slot's primary, every
/// node ready.
pub(super) async fn whole(env: &dyn Environment) -> Vec<Check> {
    let mut checks = Vec::new();
    let endpoints = env.endpoints();
    if endpoints.redis_is_cluster() {
        checks.push(crate::chaos::cluster_faults::wait_whole(env).await);
        match RedisProbe::cluster(&endpoints.redis_url, Duration::from_millis(500)) {
            Ok(r) => checks.push(policies_present(&r, &endpoints.key_prefix).await),
            Err(e) => checks.push(Check::new(
                "the policies are in Redis",
                false,
                e.to_string(),
            )),
        }
        checks.push(nodes_ready(env).await);
        return checks;
    }
    match redis(env) {
        Ok(r) => {
            checks.push(redis_answers(&r).await);
            checks.push(policies_present(&r, &env.endpoints().key_prefix).await);
        }
        Err(e) => checks.push(Check::new("Redis answers PING", false, e.to_string())),
    }
    checks.push(nodes_ready(env).await);
    checks
}
