//! Child processes that never outlive the test.

#![allow(unsafe_code)] // prctl(PR_SET_PDEATHSIG) in pre_exec; see `spawn`.

use std::process::{Child, Command};

/// A child process killed (SIGKILL) and reaped when dropped, including during a panic.
///
/// On Linux the child also gets SIGKILL if the test process itself dies (a harness timeout), so
/// no server is ever left behind.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    stderr: Option<std::process::ChildStderr>,
}

impl ChildGuard {
    /// Spawns `cmd`.
    ///
    /// # Panics
    /// When the program cannot be started; the message names it.
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Self {
        let name = name.into();
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        Self {
            child: Some(child),
            name,
            stderr: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`, `libc::SIGSTOP`) without waiting.
    pub fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the process to exit by itself and returns its exit status. Its stderr, if
    /// piped and not taken, stays readable through [`take_stderr`](Self::take_stderr).
    pub fn wait(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut().and_then(|c| c.wait().ok());
        if let Some(c) = self.child.as_mut() {
            self.stderr = c.stderr.take();
        }
        self.child = None;
        status
    }

    /// Takes the child's piped stdout, if it was piped.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// Takes the child's piped stderr, if it was piped.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.stderr
            .take()
            .or_else(|| self.child.as_mut().and_then(|c| c.stderr.take()))
    }

    /// Its name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` (its stdout piped) to the end, collecting its stdout lines, and fails the test if it
/// runs past `deadline`. Returns its exit status and the lines.
///
/// # Panics
/// When it cannot start, or runs past `deadline` (it is killed).
pub fn run_collecting_lines(
    name: &str,
    cmd: &mut std::process::Command,
    deadline: std::time::Duration,
) -> (std::process::ExitStatus, Vec<String>) {
    use std::io::BufRead;
    let mut child = ChildGuard::spawn(name, cmd.stdout(std::process::Stdio::piped()));
    let stdout = child.take_stdout().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let until = std::time::Instant::now() + deadline;
    while child.is_running() {
        assert!(
            std::time::Instant::now() < until,
            "{name} ran past {deadline:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = child.wait().expect("exit status");
    (status, reader.join().expect("reader thread"))
}

/// The JSON lines a command printed (`--json` output), one document per line.
pub struct JsonLines(pub Vec<serde_json::Value>);

impl JsonLines {
    /// Every line, for failure messages.
    pub fn dump(&self) -> String {
        self.0
            .iter()
            .map(serde_json::Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first line whose `"type"` is `kind`.
    ///
    /// # Panics
    /// When there is none, listing every line.
    pub fn of_type(&self, kind: &str) -> &serde_json::Value {
        self.0
            .iter()
            .find(|l| l["type"] == kind)
            .unwrap_or_else(|| panic!("no line of type {kind:?}:\n{}", self.dump()))
    }

    /// Every line whose `"type"` is `kind`.
    pub fn all_of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a serde_json::Value> {
        self.0.iter().filter(move |l| l["type"] == kind)
    }
}

/// Runs `cmd` like [`run_collecting_lines`], requires every stdout line to be JSON and the command
/// to exit 0, and returns the lines.
///
/// # Panics
/// When it cannot start, runs past `deadline`, prints a line that is not JSON, or fails (with
/// every line it printed).
pub fn run_json_lines(
    name: &str,
    cmd: &mut std::process::Command,
    deadline: std::time::Duration,
) -> JsonLines {
    let (status, lines) = run_collecting_lines(name, cmd, deadline);
    let lines = JsonLines(
        lines
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{name} printed a line that is not JSON ({e}): {l}"))
            })
            .collect(),
    );
    assert!(
        status.success(),
        "{name} exited {status}:\n{}",
        lines.dump()
    );
    lines
}

/// Whether `pid` is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s[s.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}
