//! Local processes: started detached (own process group, logs to a file, stdin closed), known by
//! pid *and* start time, signalled only while they are still the process that was started.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::time::Instant;

use super::state::ProcessRecord;
use crate::error::{Error, Result};
use crate::probe::port_open;

/// What `/proc/<pid>/stat` says about a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Process state letter (`R`, `S`, `T` stopped, `Z` zombie...).
    pub(crate) state: char,
    /// Start time in clock ticks since boot.
    pub(crate) start_ticks: u64,
}

/// Reads `/proc/<pid>/stat`; `None` when there is no such process.
pub(crate) fn stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may hold
/// spaces, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field 22 (starttime) is index 19.
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// How a recorded process is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// The recorded process runs.
    Running {
        /// Frozen by SIGSTOP.
        stopped: bool,
    },
    /// It exited (or is a zombie waiting to be reaped).
    Gone,
    /// The pid now belongs to another process: never signal it.
    Reused,
}

/// Whether the process of `rec` still runs, judged by pid and start time.
pub(crate) fn liveness(rec: &ProcessRecord) -> Liveness {
    let Some(pid) = rec.pid else {
        return Liveness::Gone;
    };
    match stat(pid) {
        None => Liveness::Gone,
        Some(s) if rec.start_ticks.is_some_and(|t| t != s.start_ticks) => Liveness::Reused,
        Some(s) if s.state == 'Z' || s.state == 'X' => Liveness::Gone,
        Some(s) => Liveness::Running {
            stopped: s.state == 'T',
        },
    }
}

/// Starts `rec.program` with `rec.args` in `dir`, detached in its own process group (so a
/// Ctrl-C in the terminal reaches only the operator, and it outlives the command that started
/// it), stdin closed, stdout and stderr appended to `rec.log`, and no environment but `env`.
pub(crate) fn spawn(rec: &ProcessRecord, dir: &Path, env: &[(&str, &str)]) -> Result<Child> {
    let component = rec.component.to_string();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&rec.log)
        .map_err(|e| Error::io(format!("log file {}", rec.log.display()), e))?;
    let err_log = log
        .try_clone()
        .map_err(|e| Error::io(format!("log file {}", rec.log.display()), e))?;
    let mut cmd = Command::new(&rec.program);
    cmd.args(&rec.args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0)
        // Only what the stack gives them: the nodes read RATELIMITER_* variables as flag
        // fallbacks, and the stack's flags alone must decide.
        .env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().map_err(|source| Error::Spawn {
        component,
        program: rec.program.clone(),
        source,
    })
}

/// Sends `signal` to the process of `rec`, only if it is still the recorded process.
/// Returns whether it was sent.
pub(crate) fn signal(rec: &ProcessRecord, signal: Signal) -> Result<bool> {
    let (Some(pid), Liveness::Running { .. }) = (rec.pid, liveness(rec)) else {
        return Ok(false);
    };
    let raw = i32::try_from(pid).map_err(|_| Error::NotRunning(rec.component.to_string()))?;
    match kill(Pid::from_raw(raw), signal) {
        Ok(()) => Ok(true),
        Err(nix::Error::ESRCH) => Ok(false),
        Err(source) => Err(Error::Signal {
            component: rec.component.to_string(),
            pid,
            source,
        }),
    }
}

/// Waits until the process of `rec` is gone and its port closed, reaping it if this process is
/// its parent. Returns whether it went within `timeout`.
pub(crate) async fn wait_gone(
    rec: &ProcessRecord,
    child: Option<&mut Child>,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut child = child;
    loop {
        if let Some(c) = child.as_deref_mut() {
            // Reaping is what turns our own zombie into nothing.
            let _ = c.try_wait();
        }
        // A killed multi-threaded process can show its main thread as a zombie while other
        // threads still exit and hold its sockets: gone means its port closed too.
        if !matches!(liveness(rec), Liveness::Running { .. }) && !port_open(rec.port).await {
            if let Some(c) = child {
                // It may have died between the reap above and the check: reap it now (a dead
                // child's wait returns at once), or it stays a zombie once this process exits.
                let _ = c.wait();
            }
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM, then SIGKILL after `grace`; SIGCONT first, so a frozen process can act on SIGTERM.
/// Returns what was done, for reports.
pub(crate) async fn terminate(
    rec: &ProcessRecord,
    mut child: Option<&mut Child>,
    grace: Duration,
) -> Result<String> {
    let what = match liveness(rec) {
        Liveness::Gone => return Ok("was not running".to_owned()),
        Liveness::Reused => {
            return Ok(format!(
                "left pid {} alone: it now belongs to another process",
                rec.pid.unwrap_or(0)
            ));
        }
        Liveness::Running { .. } => {
            signal(rec, Signal::SIGCONT)?;
            signal(rec, Signal::SIGTERM)?;
            if wait_gone(rec, child.as_deref_mut(), grace).await {
                "stopped (SIGTERM)"
            } else {
                signal(rec, Signal::SIGKILL)?;
                wait_gone(rec, child, Duration::from_secs(5)).await;
                "killed (SIGKILL after the grace period)"
            }
        }
    };
    Ok(format!("{what}, pid {}", rec.pid.unwrap_or(0)))
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The arguments of a throwaway `redis-server` on 127.0.0.1:`port`: no persistence, in the
/// foreground (the stack supervises it). Cluster members and sentinel-watched members add theirs.
pub(super) fn redis_server_args(port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "notice",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_spaces_in_the_name() {
        let line = "4242 (redis-server *:6379) S 1 4242 4242 0 -1 4194560 300 0 0 0 1 2 0 0 20 0 5 0 987654 \
                    100000 500 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                start_ticks: 987_654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_a_reused_pid() {
        let me = std::process::id();
        let s = stat(me).expect("/proc is readable");
        let mut rec = ProcessRecord {
            component: crate::Component::Redis,
            port: 1,
            pid: Some(me),
            start_ticks: Some(s.start_ticks),
            started_at: None,
            program: "x".into(),
            args: vec![],
            log: "l".into(),
        };
        assert!(matches!(liveness(&rec), Liveness::Running { .. }));
        rec.start_ticks = Some(s.start_ticks + 1);
        assert_eq!(liveness(&rec), Liveness::Reused);
        assert!(
            !signal(&rec, Signal::SIGTERM).unwrap(),
            "never signal a reused pid"
        );
    }
}
