//! What the demo tells, as values ([`Narration`], in `narration`), and two sinks: [`TextNarrator`]
//! for a terminal (colour optional, in `text`) and [`JsonNarrator`], JSON lines for scripts (in
//! `json`).

mod json;
mod narration;
mod text;

pub use json::JsonNarrator;
pub use narration::{Narration, Narrator};
pub use text::TextNarrator;
