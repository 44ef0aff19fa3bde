//! The subjects this build can watch (`--subject`), and how their flags become a subject and
//! its checker.
//!
//! Each subject module (`ratelimit`, `tikv`) turns its flags into the subject crate's
//! configuration and calls a [`WithSubject`] visitor (in `with_subject`) with the concrete
//! subject and checker types, so every command (`monitor`, `diagnose`, `agent`) is written once,
//! generically.

mod ratelimit;
mod tikv;
mod with_subject;

use clap::{Args, ValueEnum};

pub use self::with_subject::{Profile, WithSubject};
use crate::exit::CliError;

/// Subject names accepted by `--subject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubjectName {
    /// The distributed rate limiter: Redis and its ratelimiter-node processes.
    Ratelimit,
    /// A TiKV cluster, through the PD and Prometheus HTTP APIs.
    Tikv,
}

/// `--subject` and every subject's connection flags.
///
/// `--subject` is required, except by the commands that work on a ticket (`diagnose`, `agent
/// --ticket`), which take it from the ticket ([`SubjectArgs::for_ticket`]) and turn the
/// requirement off with `#[command(mut_arg("subject", from_ticket))]` ([`from_ticket`]).
#[derive(Debug, Clone, Args)]
pub struct SubjectArgs {
    /// Which subject to act on.
    #[arg(
        long,
        short = 's',
        value_enum,
        env = "OPERATOR_SUBJECT",
        required = true
    )]
    pub subject: Option<SubjectName>,
    /// Connection to the rate limiter (with --subject ratelimit).
    #[command(flatten)]
    pub ratelimit: ratelimit::RateLimitArgs,
    /// Connection to TiKV (with --subject tikv).
    #[command(flatten)]
    pub tikv: tikv::TikvArgs,
}

/// `--subject` for the commands that take it from a ticket: optional, and saying so.
pub fn from_ticket(arg: clap::Arg) -> clap::Arg {
    arg.required(false).help(
        "Which subject to act on [default: the ticket's]. Only needed to confirm it: a \
         --subject that disagrees with the ticket is an error",
    )
}

impl SubjectArgs {
    /// Takes the subject from a ticket about `ticket_subject` (ticket `id`): `--subject` may be
    /// left out, and when given must agree.
    ///
    /// # Errors
    /// A usage error naming `--subject` when it disagrees with the ticket, or when the ticket's
    /// subject is not one this build knows.
    pub fn for_ticket(&mut self, id: i64, ticket_subject: &str) -> Result<(), CliError> {
        let Ok(theirs) = SubjectName::from_str(ticket_subject, false) else {
            return Err(CliError::flag(
                "--subject",
                format!(
                    "ticket #{id} is about subject {ticket_subject:?}, which this build cannot watch"
                ),
            ));
        };
        match self.subject {
            Some(given) if given != theirs => Err(CliError::flag(
                "--subject",
                format!(
                    "ticket #{id} is about subject {ticket_subject:?}, not {:?}; leave --subject out to use the ticket's",
                    given.name()
                ),
            )),
            _ => {
                self.subject = Some(theirs);
                Ok(())
            }
        }
    }

    /// Builds the chosen subject from its flags and hands it to `visitor`.
    ///
    /// # Errors
    /// A usage error naming the bad flag when the subject's configuration is invalid, or when
    /// no subject was given (nor taken from a ticket).
    pub async fn visit<V: WithSubject>(&self, visitor: V) -> Result<V::Output, CliError> {
        match self.subject {
            Some(SubjectName::Ratelimit) => self.ratelimit.visit(visitor).await,
            Some(SubjectName::Tikv) => self.tikv.visit(visitor).await,
            None => Err(CliError::flag(
                "--subject",
                "required (which subject to act on: ratelimit or tikv)",
            )),
        }
    }
}

impl SubjectName {
    /// The name as `--subject` takes it (and subjects call themselves).
    pub fn name(self) -> &'static str {
        match self {
            SubjectName::Ratelimit => "ratelimit",
            SubjectName::Tikv => "tikv",
        }
    }
}
