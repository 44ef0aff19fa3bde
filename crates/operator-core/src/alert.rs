//! The life of one violation between "first seen" and "resolved", as in Prometheus alerting.
//!
//! A violation first goes *pending*; once it has been seen continuously for its pending period
//! (Prometheus `for:`) it *fires*. When it stops being seen, a firing alert keeps firing for its
//! keep-firing period (Prometheus `keep_firing_for`) and resolves only if it stays clear that long;
//! seen again meanwhile, it simply goes on firing. A pending alert that clears is dropped without
//! ever firing. So a flapping signal neither opens nor closes a ticket on every tick.
//!
//! [`Alerts::evaluate`] is pure: the caller passes the clock and what it observed, and gets back
//! one [`Update`] per alert that the evaluation touched.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::invariant::{Violation, ViolationKey};

/// Pending and keep-firing periods of one invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Time a violation must persist before firing.
    pub pending: Duration,
    /// Time a fired violation keeps firing after it clears.
    pub keep_firing: Duration,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Seen, not yet for long enough to fire.
    Pending,
    /// Firing and currently seen.
    Firing,
    /// Firing, but not seen since `since`.
    Clearing {
        /// First evaluation at which the violation was no longer seen.
        since: Instant,
    },
    /// Cleared for its keep-firing period, but its ticket could not be resolved (held open, or
    /// the store failed); resolution is retried on every evaluation that still does not see it,
    /// so releasing the hold (or the store recovering) resolves it.
    Held,
}

/// One tracked violation.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The violation as last seen.
    pub violation: Violation,
    /// Where the alert is.
    pub phase: Phase,
    /// Monotonic time at which it was first seen (start of the pending period).
    pub active_since: Instant,
    /// Wall-clock time at which it was first seen.
    pub first_seen: DateTime<Utc>,
}

/// What an evaluation did to one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Seen, still within its pending period.
    Pending,
    /// Has just started firing: open a ticket.
    Fired,
    /// Was already firing and is seen again (possibly after clearing briefly).
    Firing,
    /// Firing but not seen: keeps firing until its keep-firing period is over.
    Clearing,
    /// Stayed clear for its keep-firing period: resolve the ticket. `retry` is set when an earlier
    /// resolution found the ticket held (see [`Alerts::hold`]).
    Resolved {
        /// Whether this is a retry of a held resolution.
        retry: bool,
    },
    /// Was pending and cleared before firing: nothing to report.
    Dropped,
}

/// One alert touched by an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// What happened to it.
    pub change: Change,
    /// The violation as last seen.
    pub violation: Violation,
    /// When it was first seen.
    pub first_seen: DateTime<Utc>,
}

impl Update {
    /// Whether the alert is firing after this update (fired, firing or clearing).
    pub fn is_firing(&self) -> bool {
        matches!(
            self.change,
            Change::Fired | Change::Firing | Change::Clearing
        )
    }
}

/// The set of tracked alerts, one per [`ViolationKey`].
#[derive(Debug, Default)]
pub struct Alerts {
    alerts: BTreeMap<ViolationKey, Alert>,
}

impl Alerts {
    /// No alerts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks an alert that is already firing, e.g. for a ticket left open by an earlier run.
    pub fn restore(&mut self, violation: Violation, first_seen: DateTime<Utc>, now: Instant) {
        let key = violation.key();
        self.alerts.insert(
            key,
            Alert {
                violation,
                phase: Phase::Firing,
                active_since: now,
                first_seen,
            },
        );
    }

    /// Keeps tracking a resolved alert whose ticket turned out to be held: every later evaluation
    /// that does not see it reports [`Change::Resolved`] with `retry` set, until the caller stops
    /// calling this (the ticket was released and resolved), or it is seen again and fires.
    pub fn hold(&mut self, violation: Violation, first_seen: DateTime<Utc>, now: Instant) {
        let key = violation.key();
        self.alerts.insert(
            key,
            Alert {
                violation,
                phase: Phase::Held,
                active_since: now,
                first_seen,
            },
        );
    }

    /// The alert for `key`, if tracked.
    pub fn get(&self, key: &ViolationKey) -> Option<&Alert> {
        self.alerts.get(key)
    }

    /// Every tracked alert.
    pub fn iter(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Evaluates one observation.
    ///
    /// `seen` are the violations observed now. Alerts whose key is not seen are treated as clear,
    /// but only if `in_scope(key)` is true: alerts out of scope are left exactly as they are
    /// (this is how a failed observation avoids clearing what it could not see).
    pub fn evaluate(
        &mut self,
        now: Instant,
        now_utc: DateTime<Utc>,
        seen: Vec<Violation>,
        in_scope: impl Fn(&ViolationKey) -> bool,
        timing: impl Fn(&str) -> Timing,
    ) -> Vec<Update> {
        let mut updates = Vec::new();
        let mut seen_keys = std::collections::BTreeSet::new();
        for violation in seen {
            let key = violation.key();
            if !seen_keys.insert(key.clone()) {
                // A checker reported the same key twice: the first report wins.
                continue;
            }
            let t = timing(&violation.invariant);
            let alert = self.alerts.entry(key).or_insert_with(|| Alert {
                violation: violation.clone(),
                phase: Phase::Pending,
                active_since: now,
                first_seen: now_utc,
            });
            alert.violation = violation;
            let change = match alert.phase {
                Phase::Pending if now.duration_since(alert.active_since) >= t.pending => {
                    Change::Fired
                }
                Phase::Pending => Change::Pending,
                Phase::Firing | Phase::Clearing { .. } | Phase::Held => Change::Firing,
            };
            if change != Change::Pending {
                alert.phase = Phase::Firing;
            }
            updates.push(Update {
                change,
                violation: alert.violation.clone(),
                first_seen: alert.first_seen,
            });
        }

        let cleared: Vec<ViolationKey> = self
            .alerts
            .keys()
            .filter(|k| !seen_keys.contains(*k) && in_scope(k))
            .cloned()
            .collect();
        for key in cleared {
            let Some(alert) = self.alerts.get_mut(&key) else {
                continue;
            };
            let t = timing(&key.invariant);
            let (change, remove) = match alert.phase {
                Phase::Pending => (Change::Dropped, true),
                Phase::Held => (Change::Resolved { retry: true }, true),
                Phase::Firing | Phase::Clearing { .. } => {
                    let since = match alert.phase {
                        Phase::Clearing { since } => since,
                        _ => now,
                    };
                    if now.duration_since(since) >= t.keep_firing {
                        (Change::Resolved { retry: false }, true)
                    } else {
                        alert.phase = Phase::Clearing { since };
                        (Change::Clearing, false)
                    }
                }
            };
            updates.push(Update {
                change,
                violation: alert.violation.clone(),
                first_seen: alert.first_seen,
            });
            if remove {
                self.alerts.remove(&key);
            }
        }
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariant::Severity;

    fn v(name: &str) -> Violation {
        Violation::new(name, Severity::Warning, "broken")
    }

    fn timing(pending: u64, keep: u64) -> impl Fn(&str) -> Timing {
        move |_| Timing {
            pending: Duration::from_secs(pending),
            keep_firing: Duration::from_secs(keep),
        }
    }

    fn kinds(updates: &[Update]) -> Vec<&'static str> {
        updates
            .iter()
            .map(|u| match u.change {
                Change::Pending => "pending",
                Change::Fired => "fired",
                Change::Firing => "firing",
                Change::Clearing => "clearing",
                Change::Resolved { retry: false } => "resolved",
                Change::Resolved { retry: true } => "retry",
                Change::Dropped => "dropped",
            })
            .collect()
    }

    #[test]
    fn fires_after_pending_and_resolves_after_keep_firing() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut a = Alerts::new();
        let all = |_: &ViolationKey| true;
        let steps: Vec<(u64, Vec<Violation>, Vec<&str>)> = vec![
            (0, vec![v("x")], vec!["pending"]),
            (1, vec![v("x")], vec!["pending"]),
            (2, vec![v("x")], vec!["fired"]),
            (3, vec![v("x")], vec!["firing"]),
            (4, vec![], vec!["clearing"]),
            (5, vec![v("x")], vec!["firing"]),
            (6, vec![], vec!["clearing"]),
            (7, vec![], vec!["clearing"]),
            (8, vec![], vec!["resolved"]),
            (9, vec![], vec![]),
        ];
        for (at, seen, expected) in steps {
            let u = a.evaluate(s(at), Utc::now(), seen, all, timing(2, 2));
            assert_eq!(kinds(&u), expected, "at t={at}s");
        }
    }

    #[test]
    fn pending_alert_that_clears_is_dropped() {
        let t0 = Instant::now();
        let mut a = Alerts::new();
        let all = |_: &ViolationKey| true;
        assert_eq!(
            kinds(&a.evaluate(t0, Utc::now(), vec![v("x")], all, timing(5, 0))),
            ["pending"]
        );
        let u = a.evaluate(
            t0 + Duration::from_secs(1),
            Utc::now(),
            vec![],
            all,
            timing(5, 0),
        );
        assert_eq!(kinds(&u), ["dropped"]);
        // Seen again: the pending period starts over.
        let u = a.evaluate(
            t0 + Duration::from_secs(6),
            Utc::now(),
            vec![v("x")],
            all,
            timing(5, 0),
        );
        assert_eq!(kinds(&u), ["pending"]);
    }

    #[test]
    fn zero_timing_fires_and_resolves_at_once() {
        let t0 = Instant::now();
        let mut a = Alerts::new();
        let all = |_: &ViolationKey| true;
        assert_eq!(
            kinds(&a.evaluate(t0, Utc::now(), vec![v("x")], all, timing(0, 0))),
            ["fired"]
        );
        assert_eq!(
            kinds(&a.evaluate(t0, Utc::now(), vec![], all, timing(0, 0))),
            ["resolved"]
        );
    }

    #[test]
    fn out_of_scope_alerts_are_frozen() {
        let t0 = Instant::now();
        let mut a = Alerts::new();
        a.evaluate(t0, Utc::now(), vec![v("x")], |_| true, timing(0, 0));
        let only_y = |k: &ViolationKey| k.invariant == "y";
        let u = a.evaluate(
            t0 + Duration::from_secs(60),
            Utc::now(),
            vec![v("y")],
            only_y,
            timing(0, 0),
        );
        assert_eq!(kinds(&u), ["fired"]);
        assert_eq!(a.get(&v("x").key()).map(|a| a.phase), Some(Phase::Firing));
    }

    #[test]
    fn entities_are_tracked_separately() {
        let t0 = Instant::now();
        let mut a = Alerts::new();
        let all = |_: &ViolationKey| true;
        let seen = vec![v("down").entity("a"), v("down").entity("b")];
        assert_eq!(
            kinds(&a.evaluate(t0, Utc::now(), seen, all, timing(0, 0))),
            ["fired", "fired"]
        );
        let u = a.evaluate(
            t0,
            Utc::now(),
            vec![v("down").entity("a")],
            all,
            timing(0, 0),
        );
        assert_eq!(kinds(&u), ["firing", "resolved"]);
        assert_eq!(u[1].violation.entity.as_deref(), Some("b"));
    }

    #[test]
    fn held_alert_retries_resolution_until_released_or_seen_again() {
        let t0 = Instant::now();
        let mut a = Alerts::new();
        let all = |_: &ViolationKey| true;
        a.evaluate(t0, Utc::now(), vec![v("x")], all, timing(0, 0));
        let u = a.evaluate(t0, Utc::now(), vec![], all, timing(0, 0));
        assert_eq!(kinds(&u), ["resolved"]);
        a.hold(u[0].violation.clone(), u[0].first_seen, t0);
        assert_eq!(
            kinds(&a.evaluate(t0, Utc::now(), vec![], all, timing(0, 0))),
            ["retry"]
        );
        a.hold(v("x"), Utc::now(), t0);
        assert_eq!(
            kinds(&a.evaluate(t0, Utc::now(), vec![v("x")], all, timing(0, 0))),
            ["firing"]
        );
    }
}
