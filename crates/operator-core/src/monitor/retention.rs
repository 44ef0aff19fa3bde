//! When the monitor prunes the ticket store: at its first tick, then every
//! [`prune_interval`](super::MonitorConfig::prune_interval), deleting what was resolved more than
//! [`retention`](super::MonitorConfig::retention) ago.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::error::Result;
use crate::ticket::{PruneReport, TicketStore};

/// The retention schedule of one monitor.
#[derive(Debug)]
pub(super) struct Retention {
    /// How long resolved tickets are kept; `None`: never pruned.
    keep: Option<Duration>,
    /// Time between passes.
    every: Duration,
    /// When the next pass is due; `None` before the first tick.
    next: Option<Instant>,
}

impl Retention {
    /// A schedule keeping resolved tickets for `keep`, pruning every `every`.
    pub(super) fn new(keep: Option<Duration>, every: Duration) -> Self {
        Self {
            keep,
            every,
            next: None,
        }
    }

    /// The cutoff of a pass due at `now` (monotonic) and `utc` (wall clock), if one is due; the
    /// pass after it is scheduled `every` later.
    pub(super) fn due(&mut self, now: Instant, utc: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let keep = self.keep?;
        if self.next.is_some_and(|next| now < next) {
            return None;
        }
        self.next = Some(now + self.every);
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        Some(
            utc.checked_sub_signed(keep)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }

    /// Runs a pass on `store` if one is due, off the async runtime.
    ///
    /// # Errors
    /// When the store fails; the pass is then retried at the next interval.
    pub(super) async fn run(
        &mut self,
        store: &Arc<TicketStore>,
        now: Instant,
        utc: DateTime<Utc>,
    ) -> Result<Option<PruneReport>> {
        let Some(cutoff) = self.due(now, utc) else {
            return Ok(None);
        };
        let report = store.call(move |s| s.prune(cutoff, false)).await?;
        if report.tickets > 0 {
            tracing::info!(
                tickets = report.tickets,
                rows = report.rows(),
                cutoff = %cutoff,
                "pruned resolved tickets past their retention"
            );
        }
        Ok(Some(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn passes_run_at_the_first_tick_then_once_per_interval() {
        let hour = Duration::from_secs(3600);
        let mut r = Retention::new(Some(Duration::from_secs(86_400)), hour);
        let utc = Utc::now();
        let start = Instant::now();
        assert_eq!(r.due(start, utc), Some(utc - chrono::Duration::days(1)));
        assert_eq!(r.due(start + hour / 2, utc), None);
        assert!(r.due(start + hour, utc).is_some());
        assert_eq!(r.due(start + hour + hour / 2, utc), None);
    }

    #[test]
    fn no_retention_never_prunes() {
        let mut r = Retention::new(None, Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(r.due(start, Utc::now()), None);
        assert_eq!(r.due(start + Duration::from_secs(10), Utc::now()), None);
    }
}
