//! Rules about PD and Prometheus.

use operator_core::Context;
use operator_core::diagnosis::Finding;
use serde_json::Value;

pub(super) fn pd_problem(ctx: &Context, kind: &str) -> Option<Finding> {
    let problems = ctx.ticket.evidence.get("problems")?.as_array()?;
    let p = problems
        .iter()
        .find(|p| p.get("problem").and_then(Value::as_str) == Some(kind))?;
    let (confidence, summary) = match kind {
        "member_unhealthy" => {
            let healthy = p["healthy_members"].as_u64().unwrap_or(0);
            let total = p["members"].as_u64().unwrap_or(0);
            let quorum = healthy * 2 <= total;
            (
                if quorum { 0.85 } else { 0.75 },
                format!(
                    "PD member {} fails PD's health check: its process is down or it is cut off \
                     from the others ({healthy} of {total} healthy{}).",
                    p["member"].as_str().unwrap_or("?"),
                    if quorum {
                        "; the quorum is lost: PD cannot elect a leader or serve timestamps"
                    } else {
                        ""
                    }
                ),
            )
        }
        "endpoint_unreachable" => (
            0.7,
            format!(
                "PD endpoint {} does not answer the operator ({}): the member is down, the URL \
                 is wrong, or a firewall is in the way.",
                p["endpoint"].as_str().unwrap_or("?"),
                p["error"].as_str().unwrap_or("?")
            ),
        ),
        _ => (
            0.8,
            "PD has no leader: an election is under way or the quorum is lost; the cluster \
             cannot allocate timestamps meanwhile."
                .to_owned(),
        ),
    };
    Some(
        Finding::new(confidence, summary)
            .cite("ticket.evidence.problems", p.to_string())
            .risk("Without a PD leader no transaction can start."),
    )
}

pub(super) fn prometheus_down(ctx: &Context) -> Option<Finding> {
    let metrics = ctx.ticket.evidence.get("metrics")?;
    let error = metrics.get("error").and_then(Value::as_str)?;
    Some(
        Finding::new(
            0.8,
            format!(
                "Prometheus does not answer the operator ({error}): it is down, or the URL or \
                 network path is wrong. Store latency cannot be judged meanwhile."
            ),
        )
        .cite("ticket.evidence.metrics.error", error.to_owned())
        .risk("high_latency alerts are frozen at their last known state while Prometheus is down."),
    )
}
