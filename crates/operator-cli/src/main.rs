//! The `operator` command (filled by the foundation issue).
fn main() {}
