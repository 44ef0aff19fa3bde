//! Every chaos fault on a real local stack: its effect is verified, then its undo (by itself or
//! through `chaos::undo`) is verified, and the stack is whole afterwards.

mod support;

use std::time::Duration;

use ratelimiter_lab::chaos::{self, STUCK_KEY_INFIX};
use ratelimiter_lab::{Component, Environment, Fault, FaultReport};
use support::{Stack, alive, listening};

fn assert_ok(r: &FaultReport) {
    assert!(r.ok(), "{} ({}) failed its checks: {r:#?}", r.fault, r.step);
    assert!(!r.did.is_empty() && !r.undo.is_empty(), "{r:#?}");
}

/// The undo of `fault` leaves the stack whole.
async fn undo_ok(stack: &Stack, fault: Fault) -> FaultReport {
    let r = chaos::undo(&stack.env, fault).await.unwrap();
    assert_ok(&r);
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_redis_stays_until_undone() {
    let stack = support::up().await;
    let pid = stack.env.state().components[0].pid.unwrap();
    let r = chaos::inject(&stack.env, Fault::KillRedis).await.unwrap();
    assert_ok(&r);
    assert!(r.undo.contains("undo kill-redis"), "{}", r.undo);
    assert!(!alive(pid) && !stack.redis().ping().await);
    let u = undo_ok(&stack, Fault::KillRedis).await;
    assert!(u.did[0].contains("started redis-server again"), "{u:#?}");
    assert!(stack.redis().ping().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_redis_comes_back_empty_and_the_nodes_reseed() {
    let stack = support::up().await;
    let redis = stack.redis();
    let _: () = redis
        .query(
            redis::cmd("SET")
                .arg("ratelimit:marker")
                .arg("1")
                .arg("EX")
                .arg(600),
        )
        .await
        .unwrap();
    let r = chaos::inject(&stack.env, Fault::RestartRedis)
        .await
        .unwrap();
    assert_ok(&r);
    let marker: Option<String> = redis
        .query(redis::cmd("GET").arg("ratelimit:marker"))
        .await
        .unwrap();
    assert_eq!(marker, None, "Redis came back with its data");
    assert!(
        r.checks.iter().any(|c| c.what.contains("policies") && c.ok),
        "{r:#?}"
    );
    undo_ok(&stack, Fault::RestartRedis).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_redis_undoes_itself_when_its_duration_ends() {
    let stack = support::up().await;
    let d = Duration::from_millis(1_500);
    let r = chaos::inject(&stack.env, Fault::PauseRedis(d))
        .await
        .unwrap();
    assert_ok(&r);
    assert!(r.elapsed_ms >= 1_500, "{r:#?}");
    assert!(r.checks.iter().any(|c| c.what == "Redis is paused"));
    assert!(
        r.checks
            .iter()
            .any(|c| c.what == "the pause ended by itself")
    );
    assert!(stack.redis().ping().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_node_stays_until_undone() {
    let stack = support::up().await;
    let port = stack.env.state().components[2].port;
    let r = chaos::inject(&stack.env, Fault::KillNode(2)).await.unwrap();
    assert_ok(&r);
    assert!(!listening(port));
    let status = stack.env.status().await.unwrap();
    let down: Vec<Component> = status
        .iter()
        .filter(|s| !s.running)
        .map(|s| s.component)
        .collect();
    assert_eq!(down, [Component::Node(2)], "only node-2 is down");
    undo_ok(&stack, Fault::KillNode(2)).await;
    assert!(listening(port));
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_node_comes_back_as_a_new_process() {
    let stack = support::up().await;
    let before = stack.env.state().components[3].pid;
    let r = chaos::inject(&stack.env, Fault::RestartNode(3))
        .await
        .unwrap();
    assert_ok(&r);
    let after = stack.env.state().components[3].pid;
    assert_ne!(before, after);
    assert!(alive(after.unwrap()));
    undo_ok(&stack, Fault::RestartNode(3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stuck_keys_stay_until_undone() {
    let stack = support::up().await;
    let redis = stack.redis();
    let r = chaos::inject(&stack.env, Fault::StuckKeys(7))
        .await
        .unwrap();
    assert_ok(&r);
    let pattern = format!("ratelimit:{STUCK_KEY_INFIX}*");
    let keys = redis.scan(&pattern).await.unwrap();
    assert_eq!(keys.len(), 7);
    let ttl: i64 = redis.query(redis::cmd("PTTL").arg(&keys[0])).await.unwrap();
    assert_eq!(ttl, -1);
    undo_ok(&stack, Fault::StuckKeys(7)).await;
    assert!(redis.scan(&pattern).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_policies_are_restored_by_the_running_nodes() {
    let stack = support::up().await;
    let r = chaos::inject(&stack.env, Fault::DropPolicies)
        .await
        .unwrap();
    assert_ok(&r);
    let same = r
        .checks
        .iter()
        .find(|c| c.what.contains("same policies"))
        .unwrap();
    assert!(same.detail.contains("back within"), "{same:?}");
    let exists: bool = stack
        .redis()
        .query(redis::cmd("EXISTS").arg("ratelimit:{shared}:policies"))
        .await
        .unwrap();
    assert!(exists);
    undo_ok(&stack, Fault::DropPolicies).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flushed_scripts_are_reloaded_by_the_nodes() {
    let stack = support::up().await;
    let r = chaos::inject(&stack.env, Fault::ScriptFlush).await.unwrap();
    assert_ok(&r);
    assert!(
        r.checks
            .iter()
            .any(|c| c.what.contains("decides through Redis") && c.ok)
    );
    undo_ok(&stack, Fault::ScriptFlush).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_are_refused_by_the_local_environment() {
    let stack = support::up().await;
    for fault in [
        Fault::PartitionNode(1, Duration::from_secs(1)),
        Fault::PartitionRedis(Duration::from_secs(1)),
    ] {
        let e = chaos::inject(&stack.env, fault).await.unwrap_err();
        assert!(e.is_config(), "{e}");
        assert!(
            e.to_string()
                .contains("disconnect is not supported by the local environment"),
            "{e}"
        );
    }
    // Nothing was touched.
    assert!(
        chaos::undo(&stack.env, Fault::KillNode(1))
            .await
            .unwrap()
            .ok()
    );
}
