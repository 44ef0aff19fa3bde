//! The crate's error type.

use std::path::PathBuf;

use crate::environment::EnvKind;

/// Why a stack, chaos or demo operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of the stack is invalid.
    #[error("invalid stack configuration: {0}")]
    Config(String),
    /// A port the stack needs is taken; nothing was started.
    #[error(
        "port {port} ({component}) is already in use on 127.0.0.1: {source}; {instead}, or stop what \
         listens there (`operator stack down` if it is an earlier stack)"
    )]
    PortTaken {
        /// The port.
        port: u16,
        /// The component that needed it.
        component: String,
        /// What to pass instead, naming the flag and a port free now (e.g. `pass --redis-port
        /// 6380 (free)`), or `choose another port`.
        instead: String,
        /// What binding it said.
        #[source]
        source: std::io::Error,
    },
    /// The state directory already records a running stack.
    #[error(
        "a stack is already running from {} ({running}); stop it with `operator stack down{} --state-dir {}` first",
        dir.display(),
        environment.flag(),
        dir.display()
    )]
    AlreadyUp {
        /// The state directory.
        dir: PathBuf,
        /// The environment recorded there.
        environment: EnvKind,
        /// What still runs.
        running: String,
    },
    /// The compose project exists already, started by something else than this state directory.
    #[error(
        "compose project {project} already exists ({what}); take it down with `{down}`, or choose another --project"
    )]
    ProjectExists {
        /// The project name.
        project: String,
        /// What it holds.
        what: String,
        /// The command that takes it down.
        down: String,
    },
    /// The state directory records no stack of this environment ([`Error::hint`] says when
    /// it records one of the other).
    #[error(
        "no {}stack is recorded in {}: start one with `operator stack up{}`",
        if *environment == EnvKind::Local { "" } else { "compose " },
        dir.display(),
        environment.flag()
    )]
    NoStack {
        /// The state directory.
        dir: PathBuf,
        /// The environment looked for.
        environment: EnvKind,
        /// The other environment, when the directory records a stack of that one instead
        /// (filled by [`open`](crate::recorded::open)).
        other: Option<EnvKind>,
    },
    /// The state file could not be read or written.
    #[error("state file {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not what this version writes.
    #[error("state file {path} is unreadable: {source}")]
    StateFormat {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A process could not be started.
    #[error("cannot start {component} ({program}): {source}")]
    Spawn {
        /// The component.
        component: String,
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A component did not become ready in time, or exited while starting.
    #[error("{component} is not ready: {reason}; last lines of {}:\n{tail}", log.display())]
    NotReady {
        /// The component.
        component: String,
        /// What went wrong.
        reason: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A component in a container did not become ready in time, or its container stopped.
    #[error("{component} is not ready: {reason}; last lines of `docker logs {container}`:\n{tail}")]
    ContainerNotReady {
        /// The component.
        component: String,
        /// What went wrong.
        reason: String,
        /// Its container.
        container: String,
        /// The end of its log.
        tail: String,
    },
    /// Neither Compose v2 (`docker compose`) nor v1 (`docker-compose`) is installed.
    #[error(
        "neither `docker compose` (Compose v2) nor `docker-compose` (v1) answers `version`: install \
         Docker Compose (https://docs.docker.com/compose/install/, or `sudo apt-get install -y \
         docker-compose`)"
    )]
    NoCompose,
    /// A `docker` or compose command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and the end of its error output.
        detail: String,
    },
    /// The environment cannot do this.
    #[error(
        "{verb} is not supported by the {environment} environment (partitions need a network of \
         their own: use --env compose)"
    )]
    Unsupported {
        /// The verb (`disconnect`, `reconnect`).
        verb: &'static str,
        /// The environment's kind.
        environment: &'static str,
    },
    /// Only the local environment can do this: restart a component with other flags (it starts
    /// the processes itself), or put back the local Redis's own settings.
    #[error(
        "{what} is local only, not for the {environment} environment (run it on a local stack, without --env)"
    )]
    LocalOnly {
        /// What was asked, and why it needs the local stack.
        what: String,
        /// The environment's kind.
        environment: &'static str,
    },
    /// A name that is not a component of this stack.
    #[error("unknown component {0:?} (expected redis or node-1 .. node-N)")]
    UnknownComponent(String),
    /// A signal could not be delivered.
    #[error("cannot signal {component} (pid {pid}): {source}")]
    Signal {
        /// The component.
        component: String,
        /// Its pid.
        pid: u32,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A component the operation needs is not running.
    #[error("{0} is not running")]
    NotRunning(String),
    /// A Redis command failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0} ms")]
    RedisTimeout(u128),
    /// A node's HTTP API failed.
    #[error("node {url}: {detail}")]
    Node {
        /// The node's base URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// A fault name or argument is wrong.
    #[error("{0}")]
    Fault(String),
    /// The subject failed (an action, or building it).
    #[error(transparent)]
    Subject(#[from] operator_ratelimiter::Error),
    /// The monitor's ticket store failed.
    #[error(transparent)]
    Core(#[from] operator_core::Error),
    /// The load generator refused its configuration.
    #[error("load: {0}")]
    Load(#[from] ratelimiter_bench::LoadError),
    /// Any other I/O error (directories, log files).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error is a port already in use (nothing was started).
    pub fn is_port_taken(&self) -> bool {
        matches!(self, Error::PortTaken { .. })
    }

    /// Whether the error is bad configuration (flags), as opposed to a failure of the stack.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::UnknownComponent(_)
                | Error::Fault(_)
                | Error::Unsupported { .. }
                | Error::LocalOnly { .. }
        )
    }

    /// What to do instead, when the error has a likely cause the message does not name: for
    /// [`Error::NoStack`], the other environment recorded in the directory.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoStack {
                other: Some(other), ..
            } => Some(format!(
                "a {other} stack is recorded there: add --env {other}"
            )),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
