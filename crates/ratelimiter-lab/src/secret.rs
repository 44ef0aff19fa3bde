//! [`Secret`]: a token or key the stack hands its nodes (the admin token, the identifier
//! secret), never shown: its `Debug` and `Display` print `[redacted]`, and it reaches a node only
//! through the node's environment, never its argv (`/proc/<pid>/cmdline` is world-readable).

use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The variable a node reads its admin token from (`--admin-token`).
pub const ADMIN_TOKEN_VAR: &str = "RATELIMITER_ADMIN_TOKEN";
/// The variable a node reads its identifier secret from (`--identifier-secret`).
pub const IDENTIFIER_SECRET_VAR: &str = "RATELIMITER_IDENTIFIER_SECRET";

/// A secret value: shown nowhere, stored only in state files readable by their owner alone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// 32 random bytes from the kernel (`/dev/urandom`), as 64 hex digits.
    ///
    /// # Errors
    /// [`Error::Io`] when `/dev/urandom` cannot be read.
    pub fn random() -> Result<Self> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| Error::io("read /dev/urandom for a secret", e))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The value itself, for the one place that must hand it over (an environment variable, an
    /// `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a stack hands every node: its admin token and its identifier secret, when it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSecrets {
    /// `RATELIMITER_ADMIN_TOKEN`: guards the nodes' `/v1/*` management endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<Secret>,
    /// `RATELIMITER_IDENTIFIER_SECRET`: the key of the identifier fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_secret: Option<Secret>,
}

impl NodeSecrets {
    /// A fresh random token and secret (the demo's, one pair per run).
    ///
    /// # Errors
    /// As [`Secret::random`].
    pub fn random() -> Result<Self> {
        Ok(Self {
            admin_token: Some(Secret::random()?),
            identifier_secret: Some(Secret::random()?),
        })
    }

    /// The environment variables that hand them to a node.
    pub fn env(&self) -> Vec<(&'static str, &str)> {
        [
            (ADMIN_TOKEN_VAR, self.admin_token.as_ref()),
            (IDENTIFIER_SECRET_VAR, self.identifier_secret.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?.expose())))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex_and_never_shown() {
        let (a, b) = (Secret::random().unwrap(), Secret::random().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        let secrets = NodeSecrets {
            admin_token: Some(a.clone()),
            identifier_secret: None,
        };
        let shown = format!("{secrets:?} {a}");
        assert!(!shown.contains(a.expose()), "{shown}");
        assert_eq!(secrets.env(), [(ADMIN_TOKEN_VAR, a.expose())]);
    }
}
