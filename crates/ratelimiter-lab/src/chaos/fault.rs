//! [`Fault`]: the faults, their catalog, and how they are typed on the command line.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::human;

/// A fault the stack can be put through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL Redis.
    KillRedis,
    /// Stop Redis and start it again, empty.
    RestartRedis,
    /// `CLIENT PAUSE` Redis for a while.
    PauseRedis(Duration),
    /// SIGKILL node N.
    KillNode(usize),
    /// Stop node N gracefully and start it again.
    RestartNode(usize),
    /// Write N keys without TTL under the limiter's prefix.
    StuckKeys(u64),
    /// Delete the policies hash.
    DropPolicies,
    /// `SCRIPT FLUSH`: the nodes' Lua scripts vanish from Redis.
    ScriptFlush,
    /// Disconnect node N from the stack's network for a while (environments with a network).
    /// A zero duration only names the fault, for its undo.
    PartitionNode(usize, Duration),
    /// Disconnect Redis from the stack's network for a while (environments with a network).
    /// A zero duration only names the fault, for its undo.
    PartitionRedis(Duration),
    /// SIGKILL the Redis Cluster primary of shard N (`cluster_faults`), or a sentinel stack's
    /// primary (N = 1, `sentinel_faults`).
    KillRedisPrimary(usize),
    /// `CLUSTER FAILOVER` on the replica of shard N's primary (`cluster_faults`).
    Failover(usize),
    /// Restart node N with another `--key-prefix` (`drift_faults`, local only).
    KeyPrefixMismatch(usize),
    /// Restart node N with its clock shifted by this many ms (`--clock-offset-ms`;
    /// `drift_faults`, local only). Zero only names the fault, for its undo.
    ClockDrift(usize, i64),
    /// A tiny `maxmemory` with `allkeys-lru`, filled until Redis evicts (`memory_faults`).
    Eviction,
    /// Redis answers every command up to the first duration late, for the second
    /// (`latency_faults`). Zero durations only name the fault, for its undo.
    SlowRedis(Duration, Duration),
    /// Restart every node with `--limiter-mode naive`, seed 003's check-then-increment race
    /// (`mode_faults`, local only).
    NaiveMode,
}

/// One line of `operator chaos list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultSpec {
    /// Name, as typed.
    pub name: &'static str,
    /// Its argument, if any.
    pub arg: Option<&'static str>,
    /// What it does.
    pub does: &'static str,
    /// How it is undone.
    pub undo: &'static str,
}

impl Fault {
    /// Every fault, for `operator chaos list`.
    pub fn catalog() -> Vec<FaultSpec> {
        let f = |name, arg, does, undo| FaultSpec {
            name,
            arg,
            does,
            undo,
        };
        vec![
            f(
                "kill-redis",
                None,
                "SIGKILL Redis (the process, or its container), as a crash would",
                "`chaos undo kill-redis` starts it again (empty locally; with its append-only file on compose); the nodes re-seed their policies",
            ),
            f(
                "restart-redis",
                None,
                "stop Redis and start it again with no data (on compose: container and volume removed, created again)",
                "undoes itself: the nodes re-seed the policies they hold within ~250 ms (verified)",
            ),
            f(
                "pause-redis",
                Some("DURATION"),
                "freeze Redis for DURATION: CLIENT PAUSE ALL locally, `docker pause` of its container on compose",
                "undoes itself when DURATION ends (verified by PING and every node ready); `chaos undo pause-redis` resumes a container left frozen",
            ),
            f(
                "kill-node",
                Some("N"),
                "SIGKILL node N",
                "`chaos undo kill-node N` (or `chaos restart-node N`) starts it again",
            ),
            f(
                "restart-node",
                Some("N"),
                "stop node N gracefully (SIGTERM) and start it again",
                "undoes itself: verified ready with a new pid",
            ),
            f(
                "stuck-keys",
                Some("N"),
                "write N keys <prefix>chaos:stuck:<i> with no TTL",
                "the monitor's repair_stuck_keys gives them a TTL; `chaos undo stuck-keys` deletes them",
            ),
            f(
                "drop-policies",
                None,
                "DEL the policies hash",
                "undoes itself: running nodes write back the policies they hold within ~250 ms (verified)",
            ),
            f(
                "script-flush",
                None,
                "SCRIPT FLUSH: the nodes' Lua scripts vanish from Redis",
                "undoes itself: the nodes reload them on NOSCRIPT (verified by a decision on every node)",
            ),
            f(
                "partition-node",
                Some("N DURATION"),
                "disconnect node N's container from the compose network for DURATION (compose only): Redis, its peers and the host lose it",
                "undoes itself: reconnected under its service name when DURATION ends (verified ready); `chaos undo partition-node N` reconnects it",
            ),
            f(
                "partition-redis",
                Some("DURATION"),
                "disconnect the Redis container from the compose network for DURATION (compose only): the nodes decide by their failure mode",
                "undoes itself: reconnected as `redis` when DURATION ends (verified: PING, every node ready); `chaos undo partition-redis` reconnects it",
            ),
        ]
        .into_iter()
        .chain(super::cluster_faults::catalog())
        .chain(super::causes::catalog())
        .collect()
    }

    /// Parses `NAME [ARG]`, e.g. `["kill-node", "2"]` or `["pause-redis", "3s"]`.
    ///
    /// # Errors
    /// [`Error::Fault`] naming what is wrong and listing the faults.
    pub fn parse(words: &[&str]) -> Result<Self> {
        let known = || {
            Self::catalog()
                .iter()
                .map(|s| match s.arg {
                    Some(a) => format!("{} {a}", s.name),
                    None => s.name.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (name, args) = words
            .split_first()
            .ok_or_else(|| Error::Fault(format!("which fault? one of: {}", known())))?;
        let arg = |what: &str| -> Result<&str> {
            match args {
                [a] => Ok(a),
                _ => Err(Error::Fault(format!("{name} takes one argument: {what}"))),
            }
        };
        let duration = |a: &str| -> Result<Duration> {
            parse_duration(a)
                .ok_or_else(|| Error::Fault(format!("{name}: duration {a:?} (e.g. 3s, 500ms)")))
        };
        let none = || -> Result<()> {
            if args.is_empty() {
                Ok(())
            } else {
                Err(Error::Fault(format!("{name} takes no argument")))
            }
        };
        let node = |a: &str| -> Result<usize> {
            a.parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Error::Fault(format!("{name}: node number {a:?} (1, 2, ...)")))
        };
        Ok(match *name {
            "kill-redis" => none().map(|()| Fault::KillRedis)?,
            "restart-redis" => none().map(|()| Fault::RestartRedis)?,
            "drop-policies" => none().map(|()| Fault::DropPolicies)?,
            "script-flush" => none().map(|()| Fault::ScriptFlush)?,
            "pause-redis" => Fault::PauseRedis(duration(arg("DURATION, e.g. 3s")?)?),
            "partition-redis" => Fault::PartitionRedis(duration(arg("DURATION, e.g. 3s")?)?),
            "partition-node" => match args {
                [n, d] => Fault::PartitionNode(node(n)?, duration(d)?),
                _ => {
                    return Err(Error::Fault(format!(
                        "{name} takes two arguments: N DURATION, e.g. 2 3s"
                    )));
                }
            },
            "kill-node" => Fault::KillNode(node(arg("N")?)?),
            "kill-redis-primary" => Fault::KillRedisPrimary(node(arg("N")?)?),
            "failover" => Fault::Failover(node(arg("N")?)?),
            "restart-node" => Fault::RestartNode(node(arg("N")?)?),
            "key-prefix-mismatch" => Fault::KeyPrefixMismatch(node(arg("N")?)?),
            "eviction" => none().map(|()| Fault::Eviction)?,
            "naive-mode" => none().map(|()| Fault::NaiveMode)?,
            "clock-drift" => match args {
                [n, off] => Fault::ClockDrift(
                    node(n)?,
                    offset_ms(off).ok_or_else(|| {
                        Error::Fault(format!(
                            "clock-drift: offset {off:?} (e.g. 5s, -2s, 1500ms)"
                        ))
                    })?,
                ),
                _ => {
                    return Err(Error::Fault(format!(
                        "{name} takes two arguments: N OFFSET, e.g. 2 5s (-5s: behind)"
                    )));
                }
            },
            "slow-redis" => match args {
                [l, d] => {
                    let latency = parse_duration(l)
                        .filter(|l| *l <= MAX_REDIS_LATENCY)
                        .ok_or_else(|| {
                            Error::Fault(format!(
                                "slow-redis: latency {l:?} (1ms to 2s, e.g. 200ms)"
                            ))
                        })?;
                    Fault::SlowRedis(latency, duration(d)?)
                }
                _ => {
                    return Err(Error::Fault(format!(
                        "{name} takes two arguments: LATENCY DURATION, e.g. 200ms 10s"
                    )));
                }
            },
            "stuck-keys" => {
                let a = arg("N")?;
                let n = a
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or_else(|| {
                        Error::Fault(format!("stuck-keys: count {a:?} (1 to 100000)"))
                    })?;
                Fault::StuckKeys(n)
            }
            other => {
                return Err(Error::Fault(format!(
                    "unknown fault {other:?}; one of: {}",
                    known()
                )));
            }
        })
    }

    /// Parses what follows `undo`: as [`Fault::parse`], except that `stuck-keys` needs no count
    /// (its undo deletes every key it may have written), and `pause-redis` and the partitions
    /// need no duration.
    ///
    /// # Errors
    /// As [`Fault::parse`].
    pub fn parse_undo(words: &[&str]) -> Result<Self> {
        match words {
            ["stuck-keys"] => Ok(Fault::StuckKeys(0)),
            ["pause-redis"] => Ok(Fault::PauseRedis(Duration::ZERO)),
            ["partition-redis"] => Ok(Fault::PartitionRedis(Duration::ZERO)),
            ["slow-redis"] => Ok(Fault::SlowRedis(Duration::ZERO, Duration::ZERO)),
            ["clock-drift", n] => Self::parse(&["clock-drift", n, "1s"]).map(|f| match f {
                Fault::ClockDrift(n, _) => Fault::ClockDrift(n, 0),
                other => other,
            }),
            ["partition-node", n] => Self::parse(&["partition-node", n, "1s"]).map(|f| match f {
                Fault::PartitionNode(n, _) => Fault::PartitionNode(n, Duration::ZERO),
                other => other,
            }),
            _ => Self::parse(words),
        }
    }

    /// The name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::KillRedis => "kill-redis",
            Fault::RestartRedis => "restart-redis",
            Fault::PauseRedis(_) => "pause-redis",
            Fault::KillNode(_) => "kill-node",
            Fault::RestartNode(_) => "restart-node",
            Fault::StuckKeys(_) => "stuck-keys",
            Fault::DropPolicies => "drop-policies",
            Fault::ScriptFlush => "script-flush",
            Fault::PartitionNode(..) => "partition-node",
            Fault::PartitionRedis(_) => "partition-redis",
            Fault::KillRedisPrimary(_) => "kill-redis-primary",
            Fault::Failover(_) => "failover",
            Fault::KeyPrefixMismatch(_) => "key-prefix-mismatch",
            Fault::ClockDrift(..) => "clock-drift",
            Fault::Eviction => "eviction",
            Fault::SlowRedis(..) => "slow-redis",
            Fault::NaiveMode => "naive-mode",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::PauseRedis(d) | Fault::PartitionRedis(d) if d.is_zero() => {
                f.write_str(self.name())
            }
            Fault::PauseRedis(d) | Fault::PartitionRedis(d) => {
                write!(f, "{} {}", self.name(), human::duration(*d))
            }
            Fault::PartitionNode(n, d) if d.is_zero() => write!(f, "partition-node {n}"),
            Fault::PartitionNode(n, d) => {
                write!(f, "partition-node {n} {}", human::duration(*d))
            }
            Fault::KillNode(n)
            | Fault::RestartNode(n)
            | Fault::KillRedisPrimary(n)
            | Fault::Failover(n)
            | Fault::KeyPrefixMismatch(n)
            | Fault::ClockDrift(n, 0) => write!(f, "{} {n}", self.name()),
            Fault::ClockDrift(n, ms) => {
                let sign = if *ms < 0 { "-" } else { "" };
                let d = human::duration(Duration::from_millis(ms.unsigned_abs()));
                write!(f, "clock-drift {n} {sign}{d}")
            }
            Fault::SlowRedis(l, d) if d.is_zero() => {
                let _ = l;
                f.write_str(self.name())
            }
            Fault::SlowRedis(l, d) => write!(
                f,
                "slow-redis {} {}",
                human::duration(*l),
                human::duration(*d)
            ),
            Fault::StuckKeys(0) => f.write_str("stuck-keys"),
            Fault::StuckKeys(n) => write!(f, "stuck-keys {n}"),
            _ => f.write_str(self.name()),
        }
    }
}

/// The longest `slow-redis` latency: well below the 5 s after which Redis answers `BUSY` to
/// everyone while a script runs (then it would be down, not slow).
const MAX_REDIS_LATENCY: Duration = Duration::from_secs(2);

/// A clock offset: a duration, `-` in front for a clock behind, in whole milliseconds.
fn offset_ms(s: &str) -> Option<i64> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let ms = i64::try_from(parse_duration(rest)?.as_millis()).ok()?;
    Some(sign * ms)
}

/// `3s`, `500ms`, `1m`, `1m30s` (as reports print a duration of a minute or more), or a bare
/// number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    if let Some((m, sec)) = s.split_once('m')
        && let (Ok(m), Some(Ok(sec))) = (
            m.parse::<u64>(),
            sec.strip_suffix('s').map(str::parse::<u64>),
        )
    {
        let secs = m.checked_mul(60)?.checked_add(sec)?;
        return (1..=3600)
            .contains(&secs)
            .then(|| Duration::from_secs(secs));
    }
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    if !(secs > 0.0 && secs <= 3600.0) {
        return None;
    }
    // Kept at the precision reports print (`human::duration`: ms below 1 s, 10 ms below a
    // minute, whole seconds above), so that a fault read back from a report is the same fault.
    let ms = (secs * 1000.0).round() as u64;
    let ms = match ms {
        0 => return None,
        1..1_000 => ms,
        1_000..60_000 => (ms + 5) / 10 * 10,
        _ => (ms + 500) / 1_000 * 1_000,
    };
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
#[path = "fault_tests.rs"]
mod tests;
