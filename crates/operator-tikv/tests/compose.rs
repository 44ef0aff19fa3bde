//! `docker-compose.yml` at the repository root: validated by `docker compose config` (or the
//! older `docker-compose config`) where one is installed (and required to be where
//! `OPERATOR_REQUIRE_DOCKER` is set, as the README's test command does with a Docker engine),
//! and always checked for what the operator relies on: the ports its defaults expect, pinned
//! images, and TiKV status addresses that Prometheus scrapes and PD reports alike.
//!
//! No image is pulled or started: `config` only parses, validates and interpolates the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    let path = repo_root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `docker compose` (Compose v2) or `docker-compose` (v1), whichever answers `version`.
fn compose_command() -> Option<Vec<&'static str>> {
    let candidates: [&[&'static str]; 2] = [&["docker", "compose"], &["docker-compose"]];
    candidates.into_iter().find_map(|cmd| {
        let ok = Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| cmd.to_vec())
    })
}

/// Says loudly, past the test harness' output capture, that a check did not run.
fn shout(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "\n{0}\n{message}\n{0}\n", "!".repeat(78));
}

#[test]
fn compose_file_is_valid() {
    let Some(cmd) = compose_command() else {
        assert!(
            std::env::var_os("OPERATOR_REQUIRE_DOCKER").is_none(),
            "OPERATOR_REQUIRE_DOCKER is set but neither `docker compose` nor `docker-compose` is \
             installed: docker-compose.yml cannot be validated"
        );
        shout(
            "compose_file_is_valid DID NOT RUN `docker compose config`: neither `docker compose` \
             nor `docker-compose` is installed, so docker-compose.yml was NOT validated by \
             Compose (only by the static checks of this file). Install Docker Compose to check it.",
        );
        return;
    };
    let output = Command::new(cmd[0])
        .args(&cmd[1..])
        .args(["-f", "docker-compose.yml", "config", "--quiet"])
        .current_dir(repo_root())
        .output()
        .expect("run compose");
    assert!(
        output.status.success(),
        "`{} -f docker-compose.yml config --quiet` rejected the file:\n{}{}",
        cmd.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn compose_publishes_what_the_cli_defaults_expect() {
    let compose = read("docker-compose.yml");
    for port in [
        "127.0.0.1:2379:2379",
        "127.0.0.1:9090:9090",
        "127.0.0.1:3000:3000",
    ] {
        assert!(
            compose.contains(port),
            "docker-compose.yml publishes {port}"
        );
    }
    let defaults = operator_tikv::TikvConfig::default();
    assert_eq!(defaults.pd_endpoints, ["http://127.0.0.1:2379"]);
    assert_eq!(
        defaults.prometheus.as_deref(),
        Some("http://127.0.0.1:9090")
    );
}

#[test]
fn compose_images_are_pinned_and_overridable() {
    let compose = read("docker-compose.yml");
    for image in [
        "${PD_IMAGE:-pingcap/pd:v8.",
        "${TIKV_IMAGE:-pingcap/tikv:v8.",
        "${PROMETHEUS_IMAGE:-prom/prometheus:v2.",
        "${GRAFANA_IMAGE:-grafana/grafana:11.",
    ] {
        assert!(
            compose.contains(image),
            "docker-compose.yml has image {image}..."
        );
    }
    assert!(!compose.contains(":latest"), "no floating tags");
    assert_eq!(
        compose.matches("healthcheck:").count(),
        4,
        "PD, TiKV, Prometheus, Grafana"
    );
}

#[test]
fn prometheus_scrapes_the_status_addresses_the_stores_advertise() {
    let compose = read("docker-compose.yml");
    let prometheus = read("deploy/tikv/prometheus.yml");
    for n in 1..=3 {
        let status = format!("tikv{n}:20180");
        assert!(
            compose.contains(&format!("--advertise-status-addr={status}")),
            "tikv{n} advertises {status} to PD"
        );
        assert!(
            prometheus.contains(&format!("\"{status}\"")),
            "Prometheus scrapes {status}"
        );
        assert!(
            prometheus.contains(&format!("\"pd{n}:2379\"")),
            "Prometheus scrapes pd{n}"
        );
    }
    let grafana = read("deploy/tikv/grafana/provisioning/datasources/prometheus.yml");
    assert!(grafana.contains("url: http://prometheus:9090"));
}
