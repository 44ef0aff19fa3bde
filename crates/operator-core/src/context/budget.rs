//! Fitting a [`Context`] into a size budget by dropping whole entries, least useful first.
//!
//! The order, each step running only while the document is over budget:
//! 1. observations from before the incident, oldest first, keeping the last one before it;
//! 2. observations during the incident, oldest first, keeping the newest (the snapshots taken
//!    when the ticket opened or escalated and the current observation stay);
//! 3. similar past tickets, oldest first;
//! 4. the documentation of the subject's other invariants;
//! 5. the subject's extra sections, last first;
//! 6. the evidence of concurrent tickets, then the tickets themselves, least severe first;
//! 7. the middle of the ticket's log (its first and last three entries stay);
//! 8. the remaining observations, oldest first;
//! 9. the evidence of the violations seen now, then the ticket's own evidence.
//!
//! Values are never cut: an entry is there whole or not at all, and each step that dropped
//! something says so in [`Context::trimmed`].

use serde_json::json;

use super::document::{Context, Phase};

/// Room kept for the notes that say what was dropped.
const NOTES_RESERVE: usize = 1024;

impl Context {
    /// Brings the document under `budget` bytes of JSON by dropping whole entries, least useful
    /// first, and records what was dropped in [`Context::trimmed`]. See `docs/DIAGNOSIS.md` for
    /// the order.
    pub fn trim(&mut self, budget: usize) {
        trim(self, budget);
    }

    /// A trimmed copy.
    #[must_use]
    pub fn trimmed(&self, budget: usize) -> Context {
        let mut c = self.clone();
        c.trim(budget);
        c
    }
}

fn trim(ctx: &mut Context, budget: usize) {
    if ctx.size() <= budget {
        return;
    }
    let target = budget.saturating_sub(NOTES_RESERVE);
    drop_early_observations(ctx, target);
    drop_similar(ctx, target);
    drop_other_invariants(ctx, target);
    drop_extra(ctx, target);
    drop_concurrent(ctx, target);
    drop_timeline(ctx, target);
    drop_observations(ctx, target);
    drop_evidence(ctx, target);
    let size = ctx.size();
    if size > budget {
        ctx.trimmed.push(format!(
            "still {size} bytes, over the budget of {budget}: the rest is essential"
        ));
    }
}

/// Steps 1 and 2: observations from before the incident, then from during it, oldest first,
/// keeping the last of each.
fn drop_early_observations(ctx: &mut Context, target: usize) {
    let total_obs = ctx.observations.len();
    let n = shrink(ctx, target, |c| {
        let befores: Vec<usize> = indices(c, |p| p == Phase::Before);
        (befores.len() > 1).then(|| c.observations.remove(befores[0]))
    });
    let m = shrink(ctx, target, |c| {
        let durings: Vec<usize> = indices(c, |p| p == Phase::During || p == Phase::After);
        (durings.len() > 1).then(|| c.observations.remove(durings[0]))
    });
    if n + m > 0 {
        ctx.trimmed.push(format!(
            "observations: dropped {} of {total_obs} ({n} from before the incident, {m} from during it), oldest first",
            n + m
        ));
    }
}

/// Step 3: similar past tickets, oldest first.
fn drop_similar(ctx: &mut Context, target: usize) {
    let total = ctx.similar.len();
    let n = shrink(ctx, target, |c| c.similar.pop());
    note(ctx, n, || {
        format!("similar past tickets: dropped {n} of {total}, oldest first")
    });
}

/// Step 4: the documentation of the other invariants.
fn drop_other_invariants(ctx: &mut Context, target: usize) {
    if !ctx.other_invariants.is_empty() && ctx.size() > target {
        let n = ctx.other_invariants.len();
        ctx.other_invariants.clear();
        ctx.trimmed
            .push(format!("documentation of the {n} other invariants dropped"));
    }
}

/// Step 5: the extra sections, last first.
fn drop_extra(ctx: &mut Context, target: usize) {
    while ctx.size() > target {
        let Some(section) = ctx.extra.pop() else {
            break;
        };
        ctx.trimmed.push(format!(
            "extra section {:?} dropped ({} bytes)",
            section.name,
            serde_json::to_vec(&section.value).map_or(0, |v| v.len())
        ));
    }
}

/// Step 6: the evidence of concurrent tickets, then the tickets, least severe first.
fn drop_concurrent(ctx: &mut Context, target: usize) {
    let mut by_severity: Vec<usize> = (0..ctx.concurrent.len()).collect();
    by_severity.sort_by_key(|&i| ctx.concurrent[i].severity);
    let mut n = 0;
    for i in by_severity {
        if ctx.size() <= target {
            break;
        }
        if !ctx.concurrent[i].evidence.is_null() {
            ctx.concurrent[i].evidence = serde_json::Value::Null;
            n += 1;
        }
    }
    note(ctx, n, || {
        format!("evidence of {n} concurrent tickets dropped (their messages stay)")
    });
    let total = ctx.concurrent.len();
    let n = shrink(ctx, target, |c| {
        let least = (0..c.concurrent.len()).min_by_key(|&i| c.concurrent[i].severity)?;
        Some(c.concurrent.remove(least))
    });
    note(ctx, n, || {
        format!("concurrent tickets: dropped {n} of {total}, least severe first")
    });
}

/// Step 7: the middle of the ticket's log.
fn drop_timeline(ctx: &mut Context, target: usize) {
    let total = ctx.timeline.len();
    let n = shrink(ctx, target, |c| {
        (c.timeline.len() > 6).then(|| c.timeline.remove(3))
    });
    note(ctx, n, || {
        format!("ticket log: dropped {n} of {total} entries from the middle")
    });
}

/// Step 8: the remaining observations, oldest first.
fn drop_observations(ctx: &mut Context, target: usize) {
    let n = shrink(ctx, target, |c| {
        (!c.observations.is_empty()).then(|| c.observations.remove(0))
    });
    note(ctx, n, || {
        format!("observations: dropped {n} more, oldest first")
    });
}

/// Step 9: the evidence of the violations seen now, then the ticket's own.
fn drop_evidence(ctx: &mut Context, target: usize) {
    if ctx.size() > target
        && let Some(now) = &mut ctx.now
        && now.violations.iter().any(|v| !v.evidence.is_null())
    {
        for v in &mut now.violations {
            v.evidence = serde_json::Value::Null;
        }
        ctx.trimmed
            .push("evidence of the violations seen now dropped".to_owned());
    }
    if ctx.size() > target && !ctx.ticket.evidence.is_null() {
        let bytes = serde_json::to_vec(&ctx.ticket.evidence).map_or(0, |v| v.len());
        ctx.ticket.evidence = json!({ "trimmed": format!("evidence dropped ({bytes} bytes)") });
        ctx.trimmed
            .push(format!("the ticket's evidence dropped ({bytes} bytes)"));
    }
}

/// Indices of the observations whose phase passes `f`, oldest first.
fn indices(ctx: &Context, f: impl Fn(Phase) -> bool) -> Vec<usize> {
    ctx.observations
        .iter()
        .enumerate()
        .filter(|(_, e)| f(e.phase))
        .map(|(i, _)| i)
        .collect()
}

/// Applies `step` (which drops one entry and returns it, or `None` when nothing is left to drop)
/// while `ctx` is over `target`; returns how many entries it dropped.
fn shrink<T>(
    ctx: &mut Context,
    target: usize,
    mut step: impl FnMut(&mut Context) -> Option<T>,
) -> usize {
    let mut n = 0;
    while ctx.size() > target {
        if step(ctx).is_none() {
            break;
        }
        n += 1;
    }
    n
}

fn note(ctx: &mut Context, n: usize, text: impl FnOnce() -> String) {
    if n > 0 {
        ctx.trimmed.push(text());
    }
}
