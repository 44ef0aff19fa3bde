//! What `docker inspect` says about a container: running, paused, restarting, when it started,
//! its health, its networks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::engine::docker;
use crate::error::{Error, Result};

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
}
