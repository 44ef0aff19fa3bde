//! The simulated PD HTTP API: the four endpoints the client reads, rendered from the state in
//! PD v8's shapes (the fixtures' JSON with the modelled fields replaced).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::shared::{Shared, gate};
use super::state::{ClusterState, SimStore};
use crate::bytesize;
use crate::pd::{HEALTH_PATH, MEMBERS_PATH};

/// Routes of the simulated PD.
pub(super) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/pd/api/v1/stores", get(stores))
        .route(MEMBERS_PATH, get(members))
        .route(HEALTH_PATH, get(health))
        .route("/pd/api/v1/stats/region", get(region_stats))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// PD's error body when it cannot serve (a JSON string, as its `render.JSON` writes errors).
fn pd_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!(
            "[PD:cluster:ErrNotBootstrapped]TiKV cluster not bootstrapped, please start TiKV first"
        )),
    )
        .into_response()
}

async fn stores(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let state = match gate(&shared, "pd", "/pd/api/v1/stores", |s| s.pd, pd_error).await {
        Ok(state) => state,
        Err(response) => return response,
    };
    // As PD's `NewStoreStateFilter`: repeated `state=<metapb.StoreState>`, Up and Offline by
    // default.
    let mut accepted: Vec<i64> = Vec::new();
    for pair in query.as_deref().unwrap_or_default().split('&') {
        if let Some(value) = pair.strip_prefix("state=") {
            match value.parse() {
                Ok(n @ 0..=2) => accepted.push(n),
                _ => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        axum::Json(json!(format!("unknown StoreState: {value}"))),
                    )
                        .into_response();
                }
            }
        }
    }
    if accepted.is_empty() {
        accepted = vec![0, 1];
    }
    let now = Utc::now();
    let stores: Vec<Value> = state
        .stores
        .iter()
        .filter(|s| accepted.contains(&metapb_state(s)))
        .map(|s| render_store(s, now))
        .collect();
    axum::Json(json!({ "count": stores.len(), "stores": stores })).into_response()
}

/// The stored `metapb.StoreState` behind a `state_name`: 0 Up (also Disconnected and Down), 1
/// Offline, 2 Tombstone.
fn metapb_state(store: &SimStore) -> i64 {
    match store.state_name.as_str() {
        "Offline" => 1,
        "Tombstone" => 2,
        _ => 0,
    }
}

fn render_store(store: &SimStore, now: DateTime<Utc>) -> Value {
    let mut v = store.template.clone();
    // A silent store's last heartbeat is as old as its state implies.
    let silence = match store.state_name.as_str() {
        "Disconnected" => chrono::Duration::seconds(45),
        "Down" => chrono::Duration::minutes(31),
        "Tombstone" => chrono::Duration::hours(2),
        _ => chrono::Duration::milliseconds(1_500),
    };
    let heartbeat = now - silence;
    let meta = &mut v["store"];
    meta["id"] = json!(store.id);
    meta["address"] = json!(store.address);
    meta["peer_address"] = json!(store.address);
    meta["status_address"] = json!(store.status_address);
    meta["state_name"] = json!(store.state_name);
    if let Some(fields) = meta.as_object_mut() {
        // `metapb.Store` fields are `omitempty`: Up (0) and Preparing (0) are not written.
        fields.remove("state");
        fields.remove("node_state");
        match metapb_state(store) {
            0 => {}
            n => {
                fields.insert("state".into(), json!(n));
            }
        }
        let node_state = match store.state_name.as_str() {
            "Offline" => 2,   // Removing
            "Tombstone" => 3, // Removed
            _ => 1,           // Serving
        };
        fields.insert("node_state".into(), json!(node_state));
        fields.insert(
            "last_heartbeat".into(),
            json!(heartbeat.timestamp_nanos_opt().unwrap_or_default()),
        );
    }
    let status = &mut v["status"];
    status["capacity"] = json!(bytesize::format(store.capacity));
    status["available"] = json!(bytesize::format(store.available));
    status["leader_count"] = json!(store.leader_count);
    status["leader_weight"] = json!(store.leader_weight);
    #[allow(clippy::cast_precision_loss)] // a score
    let leader_score = store.leader_count as f64 / store.leader_weight.max(f64::MIN_POSITIVE);
    status["leader_score"] = json!(leader_score);
    status["region_count"] = json!(store.region_count);
    status["last_heartbeat_ts"] =
        json!(heartbeat.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
    v
}

async fn members(State(shared): State<Shared>) -> Response {
    let state = match gate(
        &shared,
        "pd",
        MEMBERS_PATH,
        ClusterState::membership_availability,
        pd_error,
    )
    .await
    {
        Ok(state) => state,
        Err(response) => return response,
    };
    let mut body = json!({ "header": { "cluster_id": 7_455_283_217_064_329_491_u64 } });
    body["members"] = state.members.iter().map(|m| m.template.clone()).collect();
    if let Some(leader) = leader(&state) {
        body["leader"] = leader.clone();
        body["etcd_leader"] = leader;
    }
    axum::Json(body).into_response()
}

fn leader(state: &ClusterState) -> Option<Value> {
    let name = state.leader.as_deref()?;
    state
        .members
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.template.clone())
}

async fn health(State(shared): State<Shared>) -> Response {
    let state = match gate(
        &shared,
        "pd",
        HEALTH_PATH,
        ClusterState::membership_availability,
        pd_error,
    )
    .await
    {
        Ok(state) => state,
        Err(response) => return response,
    };
    let health: Vec<Value> = state
        .members
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "member_id": m.member_id,
                "client_urls": m.client_urls,
                "health": m.healthy,
            })
        })
        .collect();
    axum::Json(health).into_response()
}

async fn region_stats(State(shared): State<Shared>) -> Response {
    let state = match gate(&shared, "pd", "/pd/api/v1/stats/region", |s| s.pd, pd_error).await {
        Ok(state) => state,
        Err(response) => return response,
    };
    let mut stats = state.region_stats_template.clone();
    stats["count"] = json!(state.region_count);
    axum::Json(stats).into_response()
}
