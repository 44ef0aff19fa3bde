//! Rules about a Redis Cluster: a failover, a shard lost (a primary down with no replica to take
//! over), slots assigned to no primary. They read the cluster view of the freshest observation
//! and the ticket's evidence.

use operator_core::Context;
use operator_core::diagnosis::{Finding, Rule};

use super::evidence::{evidence_str, latest};
use super::outage::FAILURE_MODES_RISK;
use crate::checker::{CLUSTER_OK, FAILOVER_DETECTED, OVER_ADMISSION, REDIS_HEALTHY, REPLICA_LIVE};
use crate::topology::{ClusterView, InstanceView, Role, ranges_text};

pub(super) fn rules() -> Vec<Rule> {
    vec![
        Rule::new(
            "redis_cluster_failover",
            &[
                FAILOVER_DETECTED,
                REPLICA_LIVE,
                REDIS_HEALTHY,
                OVER_ADMISSION,
            ],
            "a Redis Cluster primary failed and its replica took over its slots",
            "a `failover_detected` ticket (old and new primary), or a failover listed in the \
             cluster view while an instance is down or a primary has no live replica",
            failover,
        ),
        Rule::new(
            "redis_cluster_shard_lost",
            &[CLUSTER_OK, REDIS_HEALTHY, OVER_ADMISSION],
            "a Redis Cluster primary is down and no live replica can take over: its slots are lost",
            "a primary serving slots that is failed or unreachable, none of its replicas live",
            shard_lost,
        ),
        Rule::new(
            "redis_cluster_failover_pending",
            &[CLUSTER_OK, REDIS_HEALTHY, OVER_ADMISSION],
            "a Redis Cluster primary is down and its replica is about to take over",
            "a primary serving slots that is failed or unreachable, with a live replica",
            failover_pending,
        ),
        Rule::new(
            "redis_cluster_slots_unassigned",
            &[CLUSTER_OK],
            "slots of the Redis Cluster are assigned to no primary",
            "uncovered slot ranges that no primary, live or not, lists",
            slots_unassigned,
        ),
    ]
}

fn cluster_of(ctx: &Context) -> Option<(usize, ClusterView)> {
    let (i, o) = latest(ctx)?;
    Some((i, o.redis.cluster?))
}

fn down_primaries(c: &ClusterView) -> Vec<&InstanceView> {
    c.primaries()
        .filter(|p| !p.live() && !p.slots.is_empty())
        .collect()
}

fn failover(ctx: &Context) -> Option<Finding> {
    let from_ticket = evidence_str(ctx, "old_primary").zip(evidence_str(ctx, "new_primary"));
    let (i, c) = cluster_of(ctx)?;
    let (old, new, slots) = match from_ticket {
        Some((old, new)) => (
            old.to_owned(),
            new.to_owned(),
            evidence_str(ctx, "slots").unwrap_or("?").to_owned(),
        ),
        None => {
            let f = c.failovers.last()?;
            (
                f.old_primary.clone(),
                f.new_primary.clone(),
                ranges_text(&f.slots),
            )
        }
    };
    let old_now = c.instances.iter().find(|x| x.addr == old);
    let next = match old_now {
        Some(x) if x.live() && x.role == Role::Replica => {
            format!("{old} is back as a replica of {new}: the shard is whole again")
        }
        _ => format!(
            "restart {old}: it rejoins as a replica of {new} (until then {new} has no replica, and \
             one more failure loses slots {slots})"
        ),
    };
    Some(
        Finding::new(
            0.8,
            format!(
                "Redis primary {old} failed and its replica {new} took over slots {slots}. The nodes \
                 decided those slots' keys by their failure mode until the cluster moved them, then \
                 limited them exactly again on {new}. Counter increments {old} had not yet replicated \
                 are lost (asynchronous replication): a few keys may admit slightly more in the \
                 current window. {next}."
            ),
        )
        .cause(format!("failover of slots {slots} from {old} to {new}"))
        .cite(format!("observations[{i}].observation.redis.cluster.failovers"), format!("{old} -> {new}"))
        .risk("A failover that repeats means the old primary keeps dying: look at its logs and memory."),
    )
}

fn shard_lost(ctx: &Context) -> Option<Finding> {
    let (i, c) = cluster_of(ctx)?;
    let lost: Vec<&InstanceView> = down_primaries(&c)
        .into_iter()
        .filter(|p| !c.replicas_of(&p.id).any(InstanceView::live))
        .collect();
    let first = lost.first()?;
    let text: Vec<String> = lost
        .iter()
        .map(|p| format!("{} (slots {})", p.addr, ranges_text(&p.slots)))
        .collect();
    Some(
        Finding::new(
            0.85,
            format!(
                "Redis shard lost: primary {} is down and has no live replica to fail over to, so its \
                 slots are served by nobody and the nodes decide their keys by their failure mode. \
                 Restart {} (or a replica of it); if its data is gone, `redis-cli --cluster fix` \
                 reassigns the slots empty.",
                text.join(", "),
                first.addr
            ),
        )
        .cause(format!("shard of {} lost", first.addr))
        .cite(format!("observations[{i}].observation.redis.cluster.uncovered"), ranges_text(&c.uncovered))
        .risk(FAILURE_MODES_RISK),
    )
}

fn failover_pending(ctx: &Context) -> Option<Finding> {
    let (i, c) = cluster_of(ctx)?;
    let p = down_primaries(&c)
        .into_iter()
        .find(|p| c.replicas_of(&p.id).any(InstanceView::live))?;
    let replicas: Vec<&str> = c
        .replicas_of(&p.id)
        .filter(|r| r.live())
        .map(|r| r.addr.as_str())
        .collect();
    Some(
        Finding::new(
            0.7,
            format!(
                "Redis primary {} (slots {}) is down; its replica {} takes over once the cluster \
                 agrees it failed (cluster-node-timeout). Until then the keys of those slots are \
                 decided by the nodes' failure mode; nothing to do but wait, then restart {}.",
                p.addr,
                ranges_text(&p.slots),
                replicas.join(", "),
                p.addr
            ),
        )
        .cause(format!("primary {} down, failover pending", p.addr))
        .cite(
            format!("observations[{i}].observation.redis.cluster.instances"),
            format!(
                "{}: {}",
                p.addr,
                p.error.as_deref().unwrap_or("marked failed")
            ),
        )
        .risk(FAILURE_MODES_RISK),
    )
}

fn slots_unassigned(ctx: &Context) -> Option<Finding> {
    let (i, c) = cluster_of(ctx)?;
    let listed = |slot: u16| {
        c.primaries()
            .any(|p| p.slots.iter().any(|r| r.start <= slot && slot <= r.end))
    };
    let unassigned: Vec<_> = c
        .uncovered
        .iter()
        .filter(|r| !listed(r.start))
        .copied()
        .collect();
    if unassigned.is_empty() {
        return None;
    }
    let ranges = ranges_text(&unassigned);
    Some(
        Finding::new(
            0.8,
            format!(
                "Slots {ranges} of the Redis Cluster are assigned to no primary (an incomplete \
                 `--cluster create`, a resharding cut short, a node removed with its slots): keys of \
                 those slots fail with CLUSTERDOWN and are decided by the nodes' failure mode. \
                 `redis-cli --cluster fix` assigns them."
            ),
        )
        .cause(format!("slots {ranges} unassigned"))
        .cite(format!("observations[{i}].observation.redis.cluster.uncovered"), ranges)
        .risk(FAILURE_MODES_RISK),
    )
}
