//! [`JsonNarrator`]: narration as JSON lines, for scripts.

use std::io::Write;

use super::narration::{Narration, Narrator};

/// JSON lines, one object per [`Narration`], tagged by `type`.
pub struct JsonNarrator<W> {
    out: W,
}

impl<W: Write + Send> JsonNarrator<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write + Send> Narrator for JsonNarrator<W> {
    fn narrate(&mut self, n: &Narration) {
        if let Ok(line) = serde_json::to_string(n) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}
