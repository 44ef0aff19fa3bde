//! The stack a state directory records, whichever environment runs it.
//!
//! `stack up` writes `stack.json` (local processes) or `compose.json` (a compose project) in its
//! state directory; later commands name the environment (`--env`) and the directory, and open
//! what is recorded there through [`open`]. When the directory records a stack of the other
//! environment instead, the error says so ([`Error::hint`]), since that is the usual mistake.

use std::path::Path;

use crate::compose::{ComposeEnv, ComposeState};
use crate::environment::{Endpoints, EnvKind, Environment};
use crate::error::{Error, Result};
use crate::local::{LocalEnv, StackState};
use crate::state_file::StateFile;

/// The stack recorded in `dir`, in environment `kind`.
///
/// # Errors
/// [`Error::NoStack`] when `dir` records none in `kind` (its [`Error::hint`] names the other
/// environment when `dir` records a stack of that one); state file errors.
pub fn open(kind: EnvKind, dir: &Path) -> Result<Box<dyn Environment>> {
    let opened: Result<Box<dyn Environment>> = match kind {
        EnvKind::Local => LocalEnv::open(dir).map(|e| Box::new(e) as Box<dyn Environment>),
        EnvKind::Compose => ComposeEnv::open(dir).map(|e| Box::new(e) as Box<dyn Environment>),
    };
    opened.map_err(|e| match e {
        Error::NoStack {
            dir,
            environment,
            other: None,
        } => {
            let other = environment.other();
            Error::NoStack {
                other: recorded_in(other, &dir).then_some(other),
                dir,
                environment,
            }
        }
        e => e,
    })
}

/// Whether `dir` records a stack of `kind` (an unreadable record counts as none).
fn recorded_in(kind: EnvKind, dir: &Path) -> bool {
    match kind {
        EnvKind::Local => matches!(StackState::load(dir), Ok(Some(_))),
        EnvKind::Compose => matches!(ComposeState::load(dir), Ok(Some(_))),
    }
}

/// Where the services of the stack recorded in `dir` answer, local or compose (local first).
/// `None` when `dir` records no stack, or its record cannot be read.
pub fn recorded_endpoints(dir: &Path) -> Option<Endpoints> {
    if let Ok(Some(local)) = StackState::load(dir) {
        return Some(local.endpoints());
    }
    ComposeState::load(dir)
        .ok()
        .flatten()
        .map(|c| c.endpoints())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_stack_names_the_environment_that_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let e = open(EnvKind::Compose, dir.path()).err().unwrap();
        assert!(matches!(e, Error::NoStack { other: None, .. }), "{e}");
        assert_eq!(e.hint(), None);
        assert_eq!(recorded_endpoints(dir.path()), None);

        let state = StackState {
            format: crate::local::STATE_FORMAT,
            environment: "local".into(),
            subject: "ratelimit".into(),
            created_at: chrono::Utc::now(),
            key_prefix: "ratelimit:".into(),
            failure_mode: "local".into(),
            components: vec![],
            secrets: crate::NodeSecrets::default(),
            sentinel_master: None,
            overrides: Default::default(),
        };
        state.save(dir.path()).unwrap();
        let e = open(EnvKind::Compose, dir.path()).err().unwrap();
        assert!(
            e.to_string().starts_with("no compose stack is recorded in"),
            "{e}"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("a local stack is recorded there: add --env local")
        );
        assert_eq!(
            recorded_endpoints(dir.path()).map(|e| e.key_prefix),
            Some("ratelimit:".to_owned())
        );
    }
}
