//! Running the compose CLI and `docker`: bounded child processes whose failures carry the end of
//! their error output, and what `docker inspect` says about a container.
//!
//! Containers, networks and volumes are found by the labels Compose (v1 and v2 alike) puts on
//! them, `com.docker.compose.project` and `.service`, `.network`, `.volume`: that does not depend
//! on how a Compose version names things.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::config::IMAGE_VARIABLES;
use crate::error::{Error, Result};

/// Bound on a `docker` command.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(30);

/// The compose command of this machine: `docker compose` (v2) when it answers `version`, else
/// `docker-compose` (v1).
///
/// # Errors
/// [`Error::NoCompose`] when neither answers.
pub(crate) async fn detect() -> Result<Vec<String>> {
    for candidate in [&["docker", "compose"][..], &["docker-compose"]] {
        let mut cmd = tokio::process::Command::new(candidate[0]);
        cmd.args(&candidate[1..])
            .arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let answered = tokio::time::timeout(DOCKER_TIMEOUT, cmd.status())
            .await
            .is_ok_and(|s| s.is_ok_and(|s| s.success()));
        if answered {
            return Ok(candidate.iter().map(|s| (*s).to_owned()).collect());
        }
    }
    Err(Error::NoCompose)
}

/// One compose project: the command, the file, the project name and its variables.
#[derive(Debug, Clone)]
pub(crate) struct Compose {
    command: Vec<String>,
    file: PathBuf,
    project: String,
    variables: BTreeMap<String, String>,
}

impl Compose {
    pub(crate) fn new(
        command: Vec<String>,
        file: PathBuf,
        project: String,
        variables: BTreeMap<String, String>,
    ) -> Self {
        Self {
            command,
            file,
            project,
            variables,
        }
    }

    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = self.command[1..].to_vec();
        argv.extend(["-p".to_owned(), self.project.clone(), "-f".to_owned()]);
        argv.push(self.file.display().to_string());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv
    }

    /// `docker compose -p P -f F <args>` as a user would type it (for messages).
    pub(crate) fn line(&self, args: &[&str]) -> String {
        format!("{} {}", self.command[0], self.argv(args).join(" "))
    }

    fn configure<C: CommandLike>(&self, cmd: &mut C) {
        // Compose reads the project directory's `.env`: that of the file, whatever the caller's
        // working directory. Image variables not recorded are removed, so that every command of
        // a stack uses the images `up` used.
        if let Some(dir) = self.file.parent().filter(|d| !d.as_os_str().is_empty()) {
            cmd.dir(dir);
        }
        for var in IMAGE_VARIABLES {
            if !self.variables.contains_key(var) {
                cmd.remove(var);
            }
        }
        for (k, v) in &self.variables {
            cmd.set(k, v);
        }
    }

    /// Runs compose with `args`, for at most `timeout`; returns its standard output.
    ///
    /// # Errors
    /// [`Error::Command`] with the exit status and the end of its error output.
    pub(crate) async fn run(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let mut cmd = tokio::process::Command::new(&self.command[0]);
        cmd.args(self.argv(args));
        self.configure(&mut cmd);
        output(cmd, &self.line(args), timeout).await
    }

    /// Runs compose with `args` and waits, blocking the thread: for teardown in `Drop`, where no
    /// runtime may be available. Returns whether it succeeded.
    pub(crate) fn run_blocking(&self, args: &[&str]) -> bool {
        let mut cmd = std::process::Command::new(&self.command[0]);
        cmd.args(self.argv(args))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.configure(&mut cmd);
        cmd.status().is_ok_and(|s| s.success())
    }

    /// The label filter of this project.
    pub(crate) fn project_label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.project)
    }
}

/// What [`Compose::configure`] needs of `std` and `tokio` commands alike.
trait CommandLike {
    fn dir(&mut self, dir: &Path);
    fn set(&mut self, k: &str, v: &str);
    fn remove(&mut self, k: &str);
}

impl CommandLike for std::process::Command {
    fn dir(&mut self, dir: &Path) {
        self.current_dir(dir);
    }
    fn set(&mut self, k: &str, v: &str) {
        self.env(k, v);
    }
    fn remove(&mut self, k: &str) {
        self.env_remove(k);
    }
}

impl CommandLike for tokio::process::Command {
    fn dir(&mut self, dir: &Path) {
        self.current_dir(dir);
    }
    fn set(&mut self, k: &str, v: &str) {
        self.env(k, v);
    }
    fn remove(&mut self, k: &str) {
        self.env_remove(k);
    }
}

async fn output(mut cmd: tokio::process::Command, line: &str, timeout: Duration) -> Result<String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let fail = |detail: String| Error::Command {
        command: line.to_owned(),
        detail,
    };
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| fail(format!("no answer within {} s", timeout.as_secs())))?
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(fail(format!("{}:\n{}", out.status, tail.join("\n"))));
    }
    tracing::debug!(command = line, "ran");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `docker <args>`; returns its standard output.
///
/// # Errors
/// [`Error::Command`] with the exit status and the end of its error output.
pub(crate) async fn docker(args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(args);
    output(cmd, &format!("docker {}", args.join(" ")), DOCKER_TIMEOUT).await
}

/// The ids printed by a `docker ... -q` listing.
fn ids(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The container of `service` in `project` (running or not), if there is one.
///
/// # Errors
/// When `docker ps` fails.
pub(crate) async fn container_of(compose: &Compose, service: &str) -> Result<Option<String>> {
    let service = format!("label=com.docker.compose.service={service}");
    let out = docker(&[
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &compose.project_label(),
        "--filter",
        &service,
    ])
    .await?;
    Ok(ids(&out).into_iter().next())
}

/// Names of what the project still holds: `container <name>`, `network <name>`, `volume <name>`.
///
/// # Errors
/// When a `docker` listing fails.
pub(crate) async fn leftovers(compose: &Compose) -> Result<Vec<String>> {
    let label = compose.project_label();
    let mut left = Vec::new();
    for (kind, args) in [
        (
            "container",
            ["ps", "-a", "--format", "{{.Names}}", "--filter"],
        ),
        (
            "network",
            ["network", "ls", "--format", "{{.Name}}", "--filter"],
        ),
        (
            "volume",
            ["volume", "ls", "--format", "{{.Name}}", "--filter"],
        ),
    ] {
        let mut args = args.to_vec();
        args.push(&label);
        let out = docker(&args).await?;
        left.extend(ids(&out).into_iter().map(|n| format!("{kind} {n}")));
    }
    Ok(left)
}

/// The one network or volume of the project with `label=value` (e.g. the `default` network, the
/// `redis-data` volume), by name.
///
/// # Errors
/// When the listing fails.
pub(crate) async fn named(
    compose: &Compose,
    kind: &str,
    label: &str,
    value: &str,
) -> Result<Option<String>> {
    let filter = format!("label=com.docker.compose.{label}={value}");
    let out = docker(&[
        kind,
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        &compose.project_label(),
        "--filter",
        &filter,
    ])
    .await?;
    Ok(ids(&out).into_iter().next())
}

/// What `docker inspect` says about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    /// Its name (without the leading `/`).
    pub(crate) name: String,
    /// Whether it runs (a paused container runs).
    pub(crate) running: bool,
    /// Whether it is frozen.
    pub(crate) paused: bool,
    /// Whether it exited and its restart policy is bringing it back (a crash loop, when it
    /// lasts).
    pub(crate) restarting: bool,
    /// When it last started.
    pub(crate) started_at: Option<DateTime<Utc>>,
    /// Its health check's status (`starting`, `healthy`, `unhealthy`), if it has one.
    pub(crate) health: Option<String>,
    /// The networks it is connected to.
    pub(crate) networks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    name: String,
    state: InspectedState,
    network_settings: InspectedNetworks,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectedState {
    running: bool,
    paused: bool,
    #[serde(default)]
    restarting: bool,
    started_at: String,
    health: Option<InspectedHealth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectedHealth {
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectedNetworks {
    networks: Option<BTreeMap<String, serde_json::Value>>,
}

/// Parses the output of `docker inspect` (a JSON array of one container).
fn parse_inspect(text: &str) -> Option<Container> {
    let mut all: Vec<Inspected> = serde_json::from_str(text).ok()?;
    let i = all.pop()?;
    // Docker's zero time ("0001-01-01T00:00:00Z") means never started.
    let started_at = DateTime::parse_from_rfc3339(&i.state.started_at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > 0);
    Some(Container {
        name: i.name.trim_start_matches('/').to_owned(),
        running: i.state.running,
        paused: i.state.paused,
        restarting: i.state.restarting,
        started_at,
        health: i.state.health.map(|h| h.status),
        networks: i
            .network_settings
            .networks
            .unwrap_or_default()
            .into_keys()
            .collect(),
    })
}

/// Inspects container `id`; `None` when it no longer exists.
///
/// # Errors
/// When `docker inspect` fails for another reason, or answers something unreadable.
pub(crate) async fn inspect(id: &str) -> Result<Option<Container>> {
    match docker(&["inspect", "--type", "container", id]).await {
        Ok(text) => parse_inspect(&text)
            .map(Some)
            .ok_or_else(|| Error::Command {
                command: format!("docker inspect {id}"),
                detail: "unreadable answer".to_owned(),
            }),
        Err(Error::Command { detail, .. }) if detail.contains("No such") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The last `lines` lines of a container's log (stdout and stderr), or why there are none.
pub(crate) async fn log_tail(container: &str, lines: usize) -> String {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["logs", "--tail", &lines.to_string(), container])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(DOCKER_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text
        }
        Ok(Err(e)) => format!("(docker logs: {e})"),
        Err(_) => "(docker logs did not answer)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_is_read() {
        let text = r#"[{"Id":"abc","Name":"/operator_redis_1",
            "State":{"Status":"running","Running":true,"Paused":false,"Pid":42,
                     "StartedAt":"2026-11-24T22:41:27.523959506Z",
                     "Health":{"Status":"healthy","FailingStreak":0,"Log":[]}},
            "NetworkSettings":{"Networks":{"operator_default":{"IPAddress":"172.29.0.2"}}}}]"#;
        let c = parse_inspect(text).unwrap();
        assert_eq!(c.name, "operator_redis_1");
        assert!(c.running && !c.paused);
        assert_eq!(c.health.as_deref(), Some("healthy"));
        assert_eq!(c.networks, ["operator_default"]);
        assert_eq!(
            c.started_at.unwrap().to_rfc3339(),
            "2026-11-24T22:41:27.523959506+00:00"
        );

        let never = r#"[{"Name":"/x","State":{"Running":false,"Paused":false,
            "StartedAt":"0001-01-01T00:00:00Z"},"NetworkSettings":{"Networks":null}}]"#;
        let c = parse_inspect(never).unwrap();
        assert_eq!(c.started_at, None);
        assert_eq!(c.health, None);
        assert!(c.networks.is_empty());
        assert_eq!(parse_inspect("[]"), None);
    }

    #[test]
    fn compose_lines_read_as_typed() {
        let c = Compose::new(
            vec!["docker".into(), "compose".into()],
            "/repo/docker-compose.ratelimit.yml".into(),
            "operator".into(),
            BTreeMap::new(),
        );
        assert_eq!(
            c.line(&["up", "-d"]),
            "docker compose -p operator -f /repo/docker-compose.ratelimit.yml up -d"
        );
        let v1 = Compose::new(
            vec!["docker-compose".into()],
            "f.yml".into(),
            "p".into(),
            BTreeMap::new(),
        );
        assert_eq!(v1.line(&["ps"]), "docker-compose -p p -f f.yml ps");
    }
}
