//! A bounded window of recent observations.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// One remembered observation.
#[derive(Debug)]
pub struct Entry<O> {
    /// When it was taken (wall clock, for reports).
    pub at: DateTime<Utc>,
    /// When it was taken (monotonic, for durations).
    pub instant: tokio::time::Instant,
    /// The observation itself, shared with reports and snapshots.
    pub observation: Arc<O>,
}

impl<O> Clone for Entry<O> {
    fn clone(&self) -> Self {
        Self {
            at: self.at,
            instant: self.instant,
            observation: Arc::clone(&self.observation),
        }
    }
}

/// The last `capacity` successful observations, oldest first.
#[derive(Debug)]
pub struct History<O> {
    entries: VecDeque<Entry<O>>,
    capacity: usize,
}

impl<O> History<O> {
    /// An empty history keeping at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends an observation, dropping the oldest one past capacity.
    pub fn push(&mut self, at: DateTime<Utc>, instant: tokio::time::Instant, observation: Arc<O>) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            at,
            instant,
            observation,
        });
    }

    /// Entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry<O>> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The most recent entry.
    pub fn latest(&self) -> Option<&Entry<O>> {
        self.entries.back()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<O> Default for History<O> {
    fn default() -> Self {
        Self::new(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_entries_oldest_first() {
        let now = tokio::time::Instant::now();
        let mut h = History::new(3);
        for i in 0..5 {
            h.push(Utc::now(), now, Arc::new(i));
        }
        let kept: Vec<i32> = h.iter().map(|e| *e.observation).collect();
        assert_eq!(kept, vec![2, 3, 4]);
        assert_eq!(*h.latest().unwrap().observation, 4);
        assert_eq!(h.len(), 3);
    }
}
