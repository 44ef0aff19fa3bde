//! `operator dashboard`: a live view of a subject in the terminal.
//!
//! - `model.rs`: [`Dashboard`], the view model (entities, invariants and their alert state, open
//!   tickets, the opened ticket's diagnosis), updated from tick reports and moved by [`Key`]s;
//!   pure.
//! - `entities.rs`: each subject's entities as a table, from its observations.
//! - `render.rs`: [`draw`], the screen of a [`Dashboard`]; pure (tested on `TestBackend`).
//! - `live.rs`: the thin shell: the terminal (restored on exit, panic and Ctrl-C), the keys, and
//!   the loop that observes (or, read-only, reads another monitor's tickets) and redraws.

mod entities;
mod live;
mod model;
mod render;

#[cfg(test)]
mod tests;

pub use self::live::{Live, run};
pub use self::model::Dashboard;
