//! [`EnvKind`]: which environment a stack runs in.

/// The environments a stack runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EnvKind {
    /// Local processes on 127.0.0.1 ([`LocalEnv`](crate::LocalEnv)).
    #[default]
    Local,
    /// The services of a compose file ([`ComposeEnv`](crate::ComposeEnv)).
    Compose,
}

impl EnvKind {
    /// `local` or `compose`: the value of `--env`, and
    /// [`Environment::kind`](super::Environment::kind).
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Local => "local",
            EnvKind::Compose => "compose",
        }
    }

    /// What to add to a suggested command line to select this environment: nothing for the
    /// default one, else ` --env <name>`.
    pub fn flag(self) -> &'static str {
        match self {
            EnvKind::Local => "",
            EnvKind::Compose => " --env compose",
        }
    }

    /// The other environment.
    pub fn other(self) -> Self {
        match self {
            EnvKind::Local => EnvKind::Compose,
            EnvKind::Compose => EnvKind::Local,
        }
    }
}

impl std::fmt::Display for EnvKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
