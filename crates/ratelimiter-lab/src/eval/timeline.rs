//! [`Timeline`]: what the demo's text narrator tells during a trial, kept in memory, so that a
//! lost trial is reported with everything that happened in it.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// A shared in-memory sink for a [`TextNarrator`](crate::demo::TextNarrator) (it writes, the
/// eval takes the lines of each trial).
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline(Arc<Mutex<Vec<u8>>>);

impl Timeline {
    /// The lines written since the last call, without blank ones; the buffer is emptied.
    pub(crate) fn take(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_end().to_owned())
            .collect()
    }
}

impl Write for Timeline {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_take_returns_the_lines_written_since_the_last() {
        let t = Timeline::default();
        let mut w = t.clone();
        writeln!(w, "\nChapter 1: trial 1\n  opened #3 redis_healthy   ").unwrap();
        assert_eq!(
            t.take(),
            ["Chapter 1: trial 1", "  opened #3 redis_healthy"]
        );
        assert!(t.take().is_empty());
        write!(w, "half").unwrap();
        writeln!(w, " a line").unwrap();
        assert_eq!(t.take(), ["half a line"]);
    }
}
