//! The workspace's own binaries, from any crate's tests.

use std::path::PathBuf;

/// Path of the workspace binary `name` (e.g. `operator`, `ratelimiter-node`) in the target
/// directory the running test was built into.
///
/// Inside the crate that defines the binary, prefer `env!("CARGO_BIN_EXE_<name>")`.
///
/// # Panics
/// When the binary has not been built, saying how to build it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (the README's test command does)",
        bin.display()
    );
    bin
}
