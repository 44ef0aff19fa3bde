//! `--redis-mode`, `--redis-url` lists and `--sentinel-master`: bad combinations exit 2 with a
//! message naming the flag, before any port is bound or Redis is reached.

use std::process::Command;

/// Runs the node with `args` (and no `RATELIMITER_*` variable of the test's environment); its
/// exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"));
    for (k, _) in std::env::vars() {
        if k.starts_with("RATELIMITER_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .output()
        .expect("run ratelimiter-node");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_redis_mode_combinations_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--redis-mode", "ring"], "--redis-mode"),
        (
            &[
                "--redis-mode",
                "sentinel",
                "--redis-url",
                "redis://127.0.0.1:1",
            ],
            "--sentinel-master",
        ),
        (
            &["--redis-mode", "sentinel", "--sentinel-master", " "],
            "--sentinel-master",
        ),
        (&["--sentinel-master", "mymaster"], "--sentinel-master"),
        (
            &["--redis-mode", "cluster", "--sentinel-master", "mymaster"],
            "--sentinel-master",
        ),
        (
            &["--redis-url", "redis://127.0.0.1:1,redis://127.0.0.1:2"],
            "--redis-url",
        ),
        (
            &[
                "--redis-mode",
                "cluster",
                "--redis-url",
                "redis://127.0.0.1:1,,redis://127.0.0.1:2",
            ],
            "--redis-url",
        ),
        (
            &[
                "--redis-mode",
                "cluster",
                "--redis-url",
                "redis://127.0.0.1:1,http://x",
            ],
            "--redis-url",
        ),
    ];
    for (args, flag) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?} exits 2: {stderr}");
        assert!(stderr.contains(flag), "{args:?} names {flag}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_help_explains_the_new_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_ratelimiter-node"))
        .arg("--help")
        .output()
        .expect("run ratelimiter-node --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--redis-mode",
        "RATELIMITER_REDIS_MODE",
        "--sentinel-master",
        "RATELIMITER_SENTINEL_MASTER",
        "comma-separated",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}:\n{help}");
    }
}
