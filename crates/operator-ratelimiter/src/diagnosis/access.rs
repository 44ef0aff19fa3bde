//! Rules about how the nodes are set up to be reached and to key their clients: a node that
//! refuses the monitor for want of the right token, and nodes fingerprinting API keys under
//! different identifier secrets.

use operator_core::Context;
use operator_core::diagnosis::{Finding, Rule};
use serde_json::Value;

use super::evidence::{error_kind, evidence_str};
use crate::checker::{COUNTER_DRIFT, NODE_DOWN, SECRET_MISMATCH};
use crate::error::ErrorKind;

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "node_token_required",
            &[NODE_DOWN],
            "the node guards its management endpoints with --admin-token and the monitor has no \
             token, or another one",
            "the node answers but its `/v1/node` answers 401 (or 429 after repeated wrong \
             tokens) to the monitor",
            node_token_required,
        ),
        Rule::new(
            "identifier_secret_mismatch",
            &[COUNTER_DRIFT],
            "nodes fingerprint API keys under different secrets: one client's limit is split",
            "live nodes reporting different `identifier_secret_digest`s, or some a digest and \
             some none",
            identifier_secret_mismatch,
        ),
    ]
}

fn node_token_required(ctx: &Context) -> Option<Finding> {
    if error_kind(&ctx.ticket.evidence) != Some(ErrorKind::Unauthorized) {
        return None;
    }
    let error = evidence_str(ctx, "error").unwrap_or("unauthorized");
    let node = ctx.ticket.entity.as_deref().unwrap_or("?");
    Some(
        Finding::new(
            0.95,
            format!(
                "Node {node} runs, but refuses the monitor's management requests: {error}. Give \
                 the monitor the nodes' admin token with --node-token or OPERATOR_NODE_TOKEN \
                 (the value of their --admin-token / RATELIMITER_ADMIN_TOKEN)."
            ),
        )
        .cause(format!(
            "the monitor's node token is missing or wrong for node {node}"
        ))
        .cite("ticket.evidence.error", error.to_owned())
        .risk(
            "Until fixed, the monitor cannot see that node's policies, clock, failure mode or \
             abuse reports: those invariants stay unknown for it.",
        ),
    )
}

fn identifier_secret_mismatch(ctx: &Context) -> Option<Finding> {
    if evidence_str(ctx, "cause") != Some(SECRET_MISMATCH) {
        return None;
    }
    let groups = ctx.ticket.evidence.get("identifier_secrets")?.as_array()?;
    let described: Vec<String> = groups
        .iter()
        .map(|g| {
            let nodes: Vec<&str> = g["nodes"]
                .as_array()
                .map(|n| n.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match g["digest"].as_str() {
                Some(d) => format!("{} (secret digest {d})", nodes.join(", ")),
                None => format!("{} (no secret)", nodes.join(", ")),
            }
        })
        .collect();
    Some(
        Finding::new(
            0.95,
            format!(
                "Nodes fingerprint API keys under different secrets: one client's limit is split \
                 ({}). Each secret gives the same API key another fingerprint, so another \
                 counter: a client is admitted up to its limit once per secret. Give every node \
                 the same RATELIMITER_IDENTIFIER_SECRET (or --identifier-secret) and restart the \
                 odd ones.",
                described.join("; ")
            ),
        )
        .cite("ticket.evidence.identifier_secrets", described.join("; "))
        .risk(
            "Changing a node's secret starts its API-key counters afresh (their old counters \
             expire with their TTL): during a rotation, restart the nodes one after the other \
             quickly, so that the split lasts seconds.",
        ),
    )
}
