//! Running the compose CLI and `docker`: bounded child processes whose failures carry the end of
//! their error output; the project's containers, networks and volumes.
//!
//! Containers, networks and volumes are found by the labels Compose (v1 and v2 alike) puts on
//! them, `com.docker.compose.project` and `.service`, `.network`, `.volume`: that does not depend
//! on how a Compose version names things.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::config::IMAGE_VARIABLES;
use crate::error::{Error, Result};
use crate::secret::NodeSecrets;

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
    /// Handed to compose as environment variables too (the file passes them to the nodes).
    secrets: NodeSecrets,
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
            secrets: NodeSecrets::default(),
        }
    }

    /// This project, with the nodes' secrets in every compose command's environment (never in
    /// its argv, never in its messages).
    #[must_use]
    pub(crate) fn with_secrets(mut self, secrets: NodeSecrets) -> Self {
        self.secrets = secrets;
        self
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
        for (k, v) in self.secrets.env() {
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

    /// The nodes' secrets reach compose in its environment (where the file interpolates them),
    /// never its argv nor the command line shown in messages. A shell stands in for compose and
    /// prints what it got.
    #[tokio::test]
    async fn secrets_go_to_compose_in_its_environment_only() {
        let secrets = NodeSecrets {
            admin_token: Some(crate::Secret::new("tok-compose-1")),
            identifier_secret: Some(crate::Secret::new("idsecret-compose-1")),
        };
        let c = Compose::new(
            vec![
                "sh".into(),
                "-c".into(),
                r#"printf 'arg %s\n' "$@"; env"#.into(),
                "sh".into(),
            ],
            "f.yml".into(),
            "p".into(),
            BTreeMap::new(),
        )
        .with_secrets(secrets);
        let out = c.run(&["ps"], Duration::from_secs(10)).await.unwrap();
        assert!(
            out.lines()
                .any(|l| l == "RATELIMITER_ADMIN_TOKEN=tok-compose-1"),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l == "RATELIMITER_IDENTIFIER_SECRET=idsecret-compose-1")
        );
        let args: Vec<&str> = out.lines().filter(|l| l.starts_with("arg ")).collect();
        assert_eq!(args, ["arg -p", "arg p", "arg -f", "arg f.yml", "arg ps"]);
        let line = c.line(&["ps"]);
        assert!(!line.contains("tok-compose-1") && !format!("{c:?}").contains("tok-compose-1"));
    }
}
