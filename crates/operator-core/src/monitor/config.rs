//! Configuration of the monitor loop.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::alert::Timing;
use crate::invariant::InvariantSpec;
use crate::observe::SUBJECT_UNREACHABLE;

/// How the monitor loop runs. Build with [`Default`] and the `#[must_use]` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// Time between the starts of two observations.
    pub interval: Duration,
    /// Longest an observation may take before it counts as failed.
    pub observe_timeout: Duration,
    /// Observations kept for checkers and snapshots.
    pub history: usize,
    /// Observations stored with a ticket when it opens or escalates (besides the current one).
    pub snapshot_history: usize,
    /// Ignore pending and keep-firing periods: report what fails now (`--once`).
    pub immediate: bool,
    /// Per-invariant timing overriding the checker's defaults.
    pub timing_overrides: BTreeMap<String, Timing>,
    /// Timing of [`SUBJECT_UNREACHABLE`].
    pub unreachable_timing: Timing,
    /// How long resolved tickets are kept (with their log, snapshots and audit trail); `None`
    /// keeps them forever. Default 30 days.
    pub retention: Option<Duration>,
    /// How often the loop prunes what is past [`retention`](Self::retention): at its first tick,
    /// then at this interval. Default one hour.
    pub prune_interval: Duration,
}

/// The default [`MonitorConfig::retention`]: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            observe_timeout: Duration::from_secs(3),
            history: 120,
            snapshot_history: 10,
            immediate: false,
            timing_overrides: BTreeMap::new(),
            unreachable_timing: Timing::default(),
            retention: Some(DEFAULT_RETENTION),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

impl MonitorConfig {
    /// Sets the interval.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the observation timeout.
    #[must_use]
    pub fn observe_timeout(mut self, timeout: Duration) -> Self {
        self.observe_timeout = timeout;
        self
    }

    /// Sets how many observations are kept.
    #[must_use]
    pub fn history(mut self, entries: usize) -> Self {
        self.history = entries;
        self
    }

    /// Ignores pending and keep-firing periods.
    #[must_use]
    pub fn immediate(mut self, immediate: bool) -> Self {
        self.immediate = immediate;
        self
    }

    /// Overrides the timing of one invariant.
    #[must_use]
    pub fn timing(mut self, invariant: impl Into<String>, timing: Timing) -> Self {
        self.timing_overrides.insert(invariant.into(), timing);
        self
    }

    /// Sets the timing of [`SUBJECT_UNREACHABLE`].
    #[must_use]
    pub fn unreachable_timing(mut self, timing: Timing) -> Self {
        self.unreachable_timing = timing;
        self
    }

    /// Sets how long resolved tickets are kept (`None`: forever).
    #[must_use]
    pub fn retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Sets how often the loop prunes.
    #[must_use]
    pub fn prune_interval(mut self, every: Duration) -> Self {
        self.prune_interval = every;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("interval must be greater than zero".into());
        }
        if self.observe_timeout.is_zero() {
            return Err("observation timeout must be greater than zero".into());
        }
        if self.prune_interval.is_zero() {
            return Err("prune interval must be greater than zero".into());
        }
        Ok(())
    }

    /// The effective timing of `invariant`, given the checker's specs.
    pub(crate) fn timing_of(
        &self,
        invariant: &str,
        specs: &BTreeMap<String, InvariantSpec>,
    ) -> Timing {
        if self.immediate {
            return Timing::default();
        }
        if let Some(t) = self.timing_overrides.get(invariant) {
            return *t;
        }
        if invariant == SUBJECT_UNREACHABLE {
            return self.unreachable_timing;
        }
        specs
            .get(invariant)
            .map_or_else(Timing::default, |s| Timing {
                pending: s.pending,
                keep_firing: s.keep_firing,
            })
    }
}
