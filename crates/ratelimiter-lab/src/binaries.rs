//! Finding the programs a local stack runs, and installing `redis-server` when it is missing.
//!
//! The caller passes what the process environment says (`PATH`, the running executable), so
//! this module reads no environment variable itself.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Debian/Ubuntu command that installs `redis-server`.
pub const REDIS_INSTALL_COMMAND: &str = "sudo apt-get install -y redis-server";

/// `name` beside `beside` (the running executable's directory), else the first `name` on
/// `path` (a `PATH`-style list).
pub fn locate(name: &str, beside: Option<&Path>, path: Option<&OsStr>) -> Option<PathBuf> {
    beside
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file())
        .or_else(|| on_path(name, path))
}

/// The first `name` on `path` (a `PATH`-style list).
pub fn on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// How `redis-server` can be installed from here: the `apt-get` to run when this process is
/// root on a system that has it, or else the message telling the user what to run.
///
/// # Errors
/// The message, when it cannot be installed from here.
pub fn redis_installer(path: Option<&OsStr>) -> Result<PathBuf, String> {
    let manual = |why: &str| {
        format!(
            "redis-server is not on PATH ({why}); install it with `{REDIS_INSTALL_COMMAND}` \
             (Debian/Ubuntu) or your system's package manager, then run this again"
        )
    };
    let apt = on_path("apt-get", path).ok_or_else(|| manual("and there is no apt-get here"))?;
    if !nix::unistd::geteuid().is_root() {
        return Err(manual("installing it needs root"));
    }
    Ok(apt)
}

/// Installs `redis-server` with `apt` (from [`redis_installer`]), then finds it on `path`.
///
/// # Errors
/// A message saying what failed and what to run instead.
pub fn install_redis_server(apt: &Path, path: Option<&OsStr>) -> Result<PathBuf, String> {
    let run = |args: &[&str]| {
        Command::new(apt)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // A fresh image may have no package lists yet: update only when a plain install fails.
    let installed = run(&["install", "-y", "-qq", "redis-server"])
        || (run(&["update", "-qq"]) && run(&["install", "-y", "-qq", "redis-server"]));
    if !installed {
        return Err(format!(
            "`apt-get install -y redis-server` failed; install it with `{REDIS_INSTALL_COMMAND}` and run this again"
        ));
    }
    on_path("redis-server", path)
        .ok_or_else(|| "apt-get installed redis-server, but it is still not on PATH".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_found_beside_the_executable_first_then_on_path() {
        let beside = tempfile::tempdir().unwrap();
        let on = tempfile::tempdir().unwrap();
        std::fs::write(on.path().join("tool"), b"").unwrap();
        let path = std::env::join_paths([on.path()]).unwrap();
        assert_eq!(
            locate("tool", Some(beside.path()), Some(&path)),
            Some(on.path().join("tool"))
        );
        std::fs::write(beside.path().join("tool"), b"").unwrap();
        assert_eq!(
            locate("tool", Some(beside.path()), Some(&path)),
            Some(beside.path().join("tool"))
        );
        assert_eq!(locate("missing", Some(beside.path()), Some(&path)), None);
        assert_eq!(locate("missing", None, None), None);
    }
}
