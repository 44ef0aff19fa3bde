//! Exit codes, the error type that carries one, and the mapping of the libraries' errors to it:
//! every library error a command does not map to a flag of its own becomes a [`CliError`] here.

use std::fmt;

/// Success; for `monitor --once`, also "healthy".
pub const OK: u8 = 0;
/// A command failed; for `monitor --once`, "violations are firing".
pub const FAILURE: u8 = 1;
/// Bad usage or configuration (clap's own usage errors use it too).
pub const USAGE: u8 = 2;

/// A command's failure, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or configuration; exit code 2. The message names the flag.
    Usage(String),
    /// The command could not do its job; exit code 1.
    Failed(anyhow::Error),
}

impl CliError {
    /// A usage error naming `flag`.
    pub fn flag(flag: &str, message: impl fmt::Display) -> Self {
        CliError::Usage(format!("{flag}: {message}"))
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            CliError::Usage(_) => USAGE,
            CliError::Failed(_) => FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => f.write_str(m),
            CliError::Failed(e) => {
                // The chain, each cause once: many errors already say their source in their own
                // message, and printing it again would double it.
                let mut text = e.to_string();
                for cause in e.chain().skip(1) {
                    let c = cause.to_string();
                    if !text.contains(&c) {
                        text.push_str(": ");
                        text.push_str(&c);
                    }
                }
                f.write_str(&text)
            }
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

impl From<operator_core::Error> for CliError {
    fn from(e: operator_core::Error) -> Self {
        CliError::Failed(e.into())
    }
}

/// A stack, chaos or demo failure: bad settings are usage errors, the rest failures (a missing
/// stack says which environment the state directory records instead, if any).
impl From<ratelimiter_lab::Error> for CliError {
    fn from(e: ratelimiter_lab::Error) -> Self {
        if e.is_config() {
            return CliError::Usage(e.to_string());
        }
        match e.hint() {
            Some(hint) => CliError::Failed(anyhow::anyhow!("{e} ({hint})")),
            None => CliError::Failed(e.into()),
        }
    }
}

/// A load that could not run: its settings (the only way it fails) are the user's.
impl From<ratelimiter_bench::LoadError> for CliError {
    fn from(e: ratelimiter_bench::LoadError) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// A diagnoser that produced no diagnosis.
impl From<operator_core::diagnosis::DiagnoseError> for CliError {
    fn from(e: operator_core::diagnosis::DiagnoseError) -> Self {
        CliError::Failed(anyhow::anyhow!("diagnosis failed: {e}"))
    }
}

/// A failed ticket lookup: a missing ticket says where to find the existing ones; other store
/// errors stay as they are.
pub fn ticket_lookup(e: operator_core::Error) -> CliError {
    match e {
        operator_core::Error::NoSuchTicket(id) => CliError::Failed(anyhow::anyhow!(
            "no ticket #{id} (see `operator tickets list --status all`)"
        )),
        e => e.into(),
    }
}

/// A failed lookup of agent session `id`, whatever the store said.
pub fn no_session(id: i64) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "no agent session #{id} (see `operator audit list`)"
    ))
}

/// Result of a command: the exit code on success.
pub type CliResult = Result<u8, CliError>;

#[cfg(test)]
mod tests {
    use super::CliError;

    #[derive(Debug, thiserror::Error)]
    #[error("port 1 is taken: {source}")]
    struct Taken {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let e = Taken {
            source: std::io::Error::other("in use"),
        };
        assert_eq!(
            CliError::Failed(e.into()).to_string(),
            "port 1 is taken: in use"
        );
        let e = anyhow::anyhow!(std::io::Error::other("refused")).context("cannot reach redis");
        assert_eq!(
            CliError::Failed(e).to_string(),
            "cannot reach redis: refused"
        );
    }
}
