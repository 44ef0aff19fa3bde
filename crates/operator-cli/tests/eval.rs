//! `operator eval --subject ratelimit` end to end on a local stack of its own, on free ports:
//! two trials of a few faults won, with the JSON the issue specifies, the markdown table
//! written, and nothing left running; a lost trial exits 1 with its timeline; bad flags exit 2
//! naming the flag before anything starts.

mod stack_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use stack_support::{StackDir, listening, operator, stderr};

fn eval(s: &StackDir, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_operator"));
    cmd.args(["eval", "--subject", "ratelimit"])
        .args(s.flags())
        .args(extra)
        .env("OPERATOR_LOG", "error")
        .env_remove("OPERATOR_DB")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn two_trials_of_a_few_faults_are_won_measured_and_leave_nothing_behind() {
    let s = StackDir::new();
    let md = s.dir.path().join("eval.md");
    let err = s.dir.path().join("eval.stderr");
    let mut cmd = eval(
        &s,
        &[
            "--json",
            "--trials",
            "2",
            "--faults",
            "kill-redis,kill-node 2,stuck-keys 10,drop-policies",
            "--soak",
            "2s",
            "--seed",
            "7",
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    cmd.stderr(std::fs::File::create(&err).unwrap());
    let (status, lines) = test_support::process::run_collecting_lines(
        "operator eval",
        &mut cmd,
        Duration::from_secs(240),
    );
    let err = std::fs::read_to_string(&err).unwrap();
    assert!(
        status.success(),
        "exit {status}\n{}\n{err}",
        lines.join("\n")
    );
    assert_eq!(lines.len(), 1, "one JSON document: {lines:?}");
    let v: Value = serde_json::from_str(&lines[0]).unwrap();

    let settings = &v["settings"];
    assert_eq!(settings["trials"], 2);
    assert_eq!(settings["seed"], 7);
    assert_eq!(settings["agent"], "execute");
    assert_eq!(settings["env"], "local");
    assert_eq!(v["false_tickets"], 0, "{v:#}");
    let faults = v["faults"].as_array().unwrap();
    let names: Vec<&str> = faults
        .iter()
        .map(|f| f["fault"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "kill-redis",
            "kill-node 2",
            "stuck-keys 10",
            "drop-policies"
        ]
    );
    for f in faults {
        assert_eq!(f["trials"], 2, "{f:#}");
        assert_eq!(f["won"], 2, "{f:#}");
        assert_eq!(f["false_tickets"], 0, "{f:#}");
    }
    // The faults that open a ticket: detected, diagnosed right, repaired, each time.
    for f in &faults[..3] {
        assert_eq!(f["diagnosis_correct"], 2, "{f:#}");
        for m in ["mttd_ms", "mttr_ms"] {
            let d = &f[m];
            let (median, p90, max) = (
                d["median"].as_u64().unwrap(),
                d["p90"].as_u64().unwrap(),
                d["max"].as_u64().unwrap(),
            );
            assert!(median <= p90 && p90 <= max, "{m}: {d}");
        }
    }
    // drop-policies heals itself: nothing detected, nothing repaired.
    assert!(faults[3]["mttd_ms"].is_null() && faults[3]["mttr_ms"].is_null());
    assert_eq!(faults[3]["diagnosis_correct"], 0);
    // One progress line per trial on stderr, and the soak's.
    assert_eq!(err.matches(": won (").count(), 8, "{err}");
    assert!(err.contains("soak done: 0 false tickets"), "{err}");

    let table = std::fs::read_to_string(&md).unwrap();
    assert!(
        table.contains("| kill-redis | 2 | 2/2 |"),
        "markdown table: {table}"
    );
    assert!(
        table.contains("| drop-policies | 2 | 2/2 | - | - | - | 0 |"),
        "{table}"
    );
    for port in s.ports() {
        assert!(!listening(port), "port {port} still listening");
    }
}

#[test]
fn a_lost_trial_exits_1_and_is_told_with_its_timeline() {
    let s = StackDir::new();
    // A deadline far shorter than redis_healthy's keep-firing period (2 s): once Redis is
    // back, its ticket cannot resolve in time, so the trial is lost whatever else it saw.
    let out = eval(
        &s,
        &[
            "--trials",
            "1",
            "--faults",
            "kill-redis",
            "--deadline",
            "1ms",
        ],
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kill-redis") && text.contains("0/1"),
        "{text}"
    );
    assert!(err.contains("lost: kill-redis trial 1: LOST"), "{err}");
    // The timeline: the trial's header and what it expected, as the demo narrates them.
    assert!(err.contains("Chapter 1: kill-redis, trial 1"), "{err}");
    assert!(
        err.contains("expect: redis_healthy reported, diagnosed as redis_down, resolved"),
        "{err}"
    );
    assert!(err.contains("operator: eval failed: 1 trial lost"), "{err}");
    for port in s.ports() {
        assert!(!listening(port), "port {port} still listening");
    }
}

#[test]
fn bad_flags_exit_2_naming_the_flag_before_anything_starts() {
    let s = StackDir::new();
    let flags = s.flags();
    let cases: [(&[&str], &str); 7] = [
        (&["--faults", "partition-node 2 3s"], "--faults"),
        (&["--faults", "kill-node 7"], "--faults"),
        (&["--faults", "flushall"], "--faults"),
        (&["--trials", "0"], "--trials"),
        (
            &["--agent", "off", "--allow", "repair_stuck_keys"],
            "--allow",
        ),
        (&["--allow", "drop_everything"], "--allow"),
        (&["--markdown", "/nonexistent-dir/eval.md"], "--markdown"),
    ];
    for (extra, flag) in cases {
        let mut args = vec!["eval", "--subject", "ratelimit"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        let out = operator(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(flag), "{extra:?} should name {flag}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!s.dir.path().join("stack.json").exists(), "nothing started");
    for port in s.ports() {
        assert!(!listening(port), "port {port} listening");
    }
}
