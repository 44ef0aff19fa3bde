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
///
/// The packaged service is not started: on Debian and Ubuntu the package's scripts would start
/// a Redis on 6379 (and enable it at boot), taking the port the stack wants. During the install,
/// a `policy-rc.d` that exits 101 ("action forbidden", honoured by `invoke-rc.d` and
/// `deb-systemd-invoke`) sits in `/usr/sbin` (an existing one is put aside and restored after),
/// and `RUNLEVEL=1` is set as well.
pub fn install_redis_server(apt: &Path, path: Option<&OsStr>) -> Result<PathBuf, String> {
    let _no_start = NoServiceStart::install(Path::new(POLICY_RC_D)).map_err(|e| {
        format!("cannot write {POLICY_RC_D} to keep the packaged Redis from starting: {e}")
    })?;
    let run = |args: &[&str]| {
        Command::new(apt)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("RUNLEVEL", "1")
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

/// Where Debian's maintainer scripts look for the local service-start policy.
pub const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// A `policy-rc.d` forbidding every service start while it lives; the one it replaced (if any)
/// is put back when it is dropped.
#[derive(Debug)]
pub struct NoServiceStart {
    path: PathBuf,
    saved: Option<PathBuf>,
}

impl NoServiceStart {
    /// Writes the forbidding policy at `path`, putting an existing file aside first.
    ///
    /// # Errors
    /// When the file cannot be moved or written (not root).
    pub fn install(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let saved = if path.exists() {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".operator-saved");
            let aside = PathBuf::from(aside);
            std::fs::rename(path, &aside)?;
            Some(aside)
        } else {
            None
        };
        let guard = Self {
            path: path.to_owned(),
            saved,
        };
        std::fs::write(
            path,
            "#!/bin/sh\n# operator: no service starts while redis-server is installed\nexit 101\n",
        )?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
        Ok(guard)
    }
}

impl Drop for NoServiceStart {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(saved) = &self.saved {
            let _ = std::fs::rename(saved, &self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_forbids_starts_and_the_old_one_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        {
            let _guard = NoServiceStart::install(&path).unwrap();
            let status = Command::new(&path).status().unwrap();
            assert_eq!(status.code(), Some(101));
        }
        assert!(!path.exists(), "no policy was there before: none is left");
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        {
            let _guard = NoServiceStart::install(&path).unwrap();
            assert!(std::fs::read_to_string(&path).unwrap().contains("exit 101"));
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "#!/bin/sh\nexit 0\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing else left"
        );
    }

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
