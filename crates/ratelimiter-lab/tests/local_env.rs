//! [`LocalEnv`] on real processes: up, status, down, and what down must never touch.

mod support;

use std::process::Command;

use ratelimiter_lab::{Component, Environment, LocalEnv, StackState, StateFile};
use support::{alive, config, listening};
use test_support::ChildGuard;

#[tokio::test(flavor = "multi_thread")]
async fn up_status_down_leaves_no_process_and_no_port() {
    let stack = support::up().await;
    let dir = stack.dir.path().to_owned();
    let (ports, pids) = (stack.ports(), stack.pids());
    assert_eq!(ports.len(), 4);
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");
    assert!(StackState::path(&dir).is_file());

    // Another handle, as a later command would open it, sees the same stack.
    let reopened = LocalEnv::open(&dir).unwrap();
    let status = reopened.status().await.unwrap();
    assert_eq!(status.len(), 4);
    assert!(status.iter().all(|s| s.running && s.ready), "{status:#?}");
    assert_eq!(status[0].component, Component::Redis);
    assert_eq!(reopened.endpoints(), stack.env.endpoints());

    let report = reopened.down().await.unwrap();
    assert_eq!(report.stopped.len(), 4, "{report:?}");
    assert!(
        report.stopped.iter().all(|s| s.contains("stopped")),
        "{report:?}"
    );
    assert!(report.ports_still_open.is_empty(), "{report:?}");
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} survived down");
    }
    for port in &ports {
        assert!(!listening(*port), "port {port} still listening");
    }
    assert!(!StackState::path(&dir).exists(), "state file removed");
    assert!(matches!(
        LocalEnv::open(&dir),
        Err(ratelimiter_lab::Error::NoStack { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn down_never_signals_a_process_it_did_not_start() {
    let stack = support::up().await;
    let dir = stack.dir.path().to_owned();
    // node-1 dies, and its pid now names a process the stack did not start.
    stack.env.kill(Component::Node(1)).await.unwrap();
    let stranger = ChildGuard::spawn("sleep", Command::new("sleep").arg("60"));
    let mut state = StackState::load(&dir).unwrap().unwrap();
    state.components[1].pid = Some(stranger.pid());
    state.save(&dir).unwrap();

    let report = LocalEnv::open(&dir).unwrap().down().await.unwrap();
    assert!(
        report.stopped[2].contains("left pid") && report.stopped[2].contains("another process"),
        "{report:?}"
    );
    assert!(
        alive(stranger.pid()),
        "down killed a process it did not start"
    );
    assert!(report.ports_still_open.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_named_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    cfg.node_ports[1] = port;
    let err = LocalEnv::up(cfg.clone()).await.unwrap_err();
    assert!(err.is_port_taken(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&port.to_string()) && msg.contains("node-2"),
        "{msg}"
    );
    assert!(!listening(cfg.redis_port), "Redis was started anyway");
    assert!(!StackState::path(dir.path()).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_up_on_a_running_stack_is_refused() {
    let stack = support::up().await;
    let mut cfg = config(stack.dir.path());
    cfg.redis_port = test_support::free_port();
    let err = LocalEnv::up(cfg).await.unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    assert!(stack.pids().iter().all(|p| alive(*p)));
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_freezes_a_component_and_resume_thaws_it() {
    let stack = support::up().await;
    let node = Component::Node(3);
    let url = stack.env.endpoints().nodes[2].clone();
    let probe =
        ratelimiter_lab::probe::NodeProbe::new(std::time::Duration::from_millis(300)).unwrap();
    stack.env.pause(node).await.unwrap();
    let status = stack.env.status().await.unwrap();
    let s = status.iter().find(|s| s.component == node).unwrap();
    assert!(s.running && s.paused && !s.ready, "{s:?}");
    assert!(!probe.ready(&url).await, "a frozen node answered");
    stack.env.resume(node).await.unwrap();
    assert!(probe.ready(&url).await);
    // A frozen process is thawed before it is asked to stop, so `stop` stays graceful.
    stack.env.pause(node).await.unwrap();
    stack.env.stop(node).await.unwrap();
    let status = stack.env.status().await.unwrap();
    assert!(!status.iter().find(|s| s.component == node).unwrap().running);
    stack.env.start(node).await.unwrap();
    assert!(probe.ready(&url).await);
}
