//! Property tests of the lab's files and words: the local and compose state files round-trip,
//! truncated or garbage state files give an error naming the file (never a panic, never a wrong
//! state), and fault and component names parse back what prints them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use ratelimiter_lab::chaos::Fault;
use ratelimiter_lab::compose::{COMPOSE_STATE_FORMAT, ComposeState};
use ratelimiter_lab::environment::Component;
use ratelimiter_lab::local::{ProcessRecord, STATE_FORMAT, StackState};
use ratelimiter_lab::{Error, StateFile};

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).expect("in range"))
}

fn component() -> impl Strategy<Value = Component> {
    prop_oneof![
        Just(Component::Redis),
        (1usize..100).prop_map(Component::Node),
        (1usize..100).prop_map(Component::Sentinel)
    ]
}

fn record() -> impl Strategy<Value = ProcessRecord> {
    (
        component(),
        any::<u16>(),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u64>()),
        prop::option::of(time()),
        any::<String>(),
        prop::collection::vec(any::<String>(), 0..6),
        any::<String>(),
    )
        .prop_map(
            |(component, port, pid, start_ticks, started_at, program, args, log)| ProcessRecord {
                component,
                port,
                pid,
                start_ticks,
                started_at,
                program: program.into(),
                args,
                log: log.into(),
            },
        )
}

fn stack_state() -> impl Strategy<Value = StackState> {
    (
        time(),
        any::<String>(),
        any::<String>(),
        prop::collection::vec(record(), 0..5),
    )
        .prop_map(
            |(created_at, key_prefix, failure_mode, components)| StackState {
                format: STATE_FORMAT,
                environment: "local".into(),
                subject: "ratelimit".into(),
                created_at,
                key_prefix,
                failure_mode,
                components,
                secrets: Default::default(),
                sentinel_master: None,
                overrides: Default::default(),
            },
        )
}

fn compose_state() -> impl Strategy<Value = ComposeState> {
    (
        (time(), any::<String>(), any::<String>()),
        prop::collection::vec(any::<String>(), 0..3),
        prop::collection::vec(any::<String>(), 0..5),
        prop::collection::btree_map(any::<String>(), any::<String>(), 0..6),
        (
            any::<u16>(),
            prop::collection::vec(any::<u16>(), 0..4),
            any::<String>(),
        ),
    )
        .prop_map(
            |(
                (created_at, file, project),
                command,
                services,
                variables,
                (redis_port, node_ports, key_prefix),
            )| {
                ComposeState {
                    format: COMPOSE_STATE_FORMAT,
                    environment: "compose".into(),
                    subject: "ratelimit".into(),
                    created_at,
                    file: file.into(),
                    project,
                    command,
                    services,
                    variables: variables.into_iter().collect::<BTreeMap<_, _>>(),
                    redis_port,
                    node_ports,
                    key_prefix,
                    secrets: Default::default(),
                }
            },
        )
}

/// Loading `bytes` as the state file of a fresh directory.
fn load_bytes<S: StateFile>(bytes: &[u8]) -> (Result<Option<S>, Error>, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(S::path(dir.path()), bytes).expect("write");
    let loaded = S::load(dir.path());
    (loaded, S::FILE.to_owned())
}

/// A state that does not load says which file, whatever went wrong.
fn refused<S: StateFile + std::fmt::Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (loaded, file) = load_bytes::<S>(bytes);
    match loaded {
        Err(e @ (Error::StateFormat { .. } | Error::State { .. })) => {
            prop_assert!(
                e.to_string().contains(&file),
                "{} does not name {}",
                e,
                file
            );
        }
        other => prop_assert!(
            false,
            "{:?} for {:?}",
            other,
            String::from_utf8_lossy(bytes)
        ),
    }
    Ok(())
}

fn round_trip<S: StateFile + PartialEq + std::fmt::Debug>(
    state: &S,
) -> Result<Vec<u8>, TestCaseError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    state.save(dir.path()).expect("save");
    let back = S::load(dir.path()).expect("load");
    prop_assert_eq!(back.as_ref(), Some(state));
    let bytes = std::fs::read(S::path(dir.path())).expect("read");
    S::remove(dir.path()).expect("remove");
    prop_assert!(S::load(dir.path()).expect("load").is_none());
    prop_assert!(!Path::new(&S::path(dir.path())).exists());
    Ok(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn local_state_round_trips_and_any_truncation_is_refused(state in stack_state(), cut in any::<prop::sample::Index>()) {
        let bytes = round_trip(&state)?;
        let body = bytes.trim_ascii_end();
        refused::<StackState>(&body[..cut.index(body.len())])?;
    }

    #[test]
    fn compose_state_round_trips_and_any_truncation_is_refused(state in compose_state(), cut in any::<prop::sample::Index>()) {
        let bytes = round_trip(&state)?;
        let body = bytes.trim_ascii_end();
        refused::<ComposeState>(&body[..cut.index(body.len())])?;
    }

    #[test]
    fn garbage_state_files_are_refused(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        any::<String>().prop_map(String::into_bytes),
        Just(b"{}".to_vec()),
        Just(b"null".to_vec()),
        Just(b"{\"format\": 1, \"environment\": \"local\"}".to_vec()),
    ]) {
        refused::<StackState>(&bytes)?;
        refused::<ComposeState>(&bytes)?;
    }

    #[test]
    fn a_field_of_the_wrong_type_is_refused(state in stack_state(), field in 0usize..7, with in prop_oneof![
        Just(serde_json::Value::Null), Just(serde_json::json!(-1)), Just(serde_json::json!("x")),
        Just(serde_json::json!([1])), Just(serde_json::json!({"a": 1})), Just(serde_json::json!(1.5)),
    ]) {
        let mut value = serde_json::to_value(&state).unwrap();
        let keys = ["format", "environment", "subject", "created_at", "key_prefix", "failure_mode", "components"];
        let same_type = matches!((keys[field], &with), ("environment" | "subject" | "key_prefix" | "failure_mode", serde_json::Value::String(_)));
        prop_assume!(!same_type);
        value[keys[field]] = with;
        refused::<StackState>(value.to_string().as_bytes())?;
    }

    #[test]
    fn faults_print_and_parse_back(fault in fault()) {
        let text = fault.to_string();
        let words: Vec<&str> = text.split(' ').collect();
        prop_assert_eq!(Fault::parse(&words).unwrap(), fault, "{}", text);
    }

    #[test]
    fn arbitrary_words_never_panic_the_parsers(words in prop::collection::vec(prop_oneof![
        ".{0,12}",
        prop::sample::select(vec!["kill-node", "pause-redis", "partition-node", "stuck-keys", "0", "-1", "1e9", "NaN", "3600.001s", "0.0001ms", "18446744073709551616"]).prop_map(str::to_owned),
    ], 0..4), name in ".{0,20}") {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        if let Ok(f) = Fault::parse(&words) {
            prop_assert_eq!(Fault::parse(&f.to_string().split(' ').collect::<Vec<_>>()).ok(), Some(f));
        }
        let _ = Fault::parse_undo(&words);
        if let Ok(c) = name.parse::<Component>() {
            prop_assert_eq!(c.to_string(), name);
        }
    }
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..1000).prop_map(Duration::from_millis),
        (1u64..=3600).prop_map(Duration::from_secs),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::KillRedis),
        Just(Fault::RestartRedis),
        duration().prop_map(Fault::PauseRedis),
        (1usize..10).prop_map(Fault::KillNode),
        (1usize..10).prop_map(Fault::RestartNode),
        (1u64..1000).prop_map(Fault::StuckKeys),
        Just(Fault::DropPolicies),
        Just(Fault::ScriptFlush),
        ((1usize..10), duration()).prop_map(|(n, d)| Fault::PartitionNode(n, d)),
        duration().prop_map(Fault::PartitionRedis),
    ]
}

use proptest::test_runner::TestCaseError;
