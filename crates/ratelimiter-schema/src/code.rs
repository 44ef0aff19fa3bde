//! The stable codes of the node's error answers: the `"error"` of every 4xx/5xx [`ErrorBody`].
//!
//! Their text forms (on the wire, in `Display`, from `FromStr`) come from one `strum` derive, so
//! the node and its clients cannot spell a code two ways.
//!
//! [`ErrorBody`]: crate::ErrorBody

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

/// A machine-readable error code, sent as its `snake_case` name (`"redis_unavailable"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Display, EnumString, IntoStaticStr, VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// The request does not parse: malformed JSON, a bad query, an unreadable body.
    BadRequest,
    /// The rate-limit key is empty, too long or not visible ASCII in a header.
    InvalidKey,
    /// The cost is 0 or larger than the smallest limit of the policy.
    InvalidCost,
    /// A policy sent to `PUT /v1/policies/{name}` (or its name) breaks a rule.
    InvalidPolicy,
    /// No policy has this name.
    UnknownPolicy,
    /// No policy matches the key and there is no `default`.
    NoPolicy,
    /// The body is larger than the node accepts.
    PayloadTooLarge,
    /// A mutation without the admin token.
    Unauthorized,
    /// No such endpoint.
    NotFound,
    /// A known endpoint with the wrong method.
    MethodNotAllowed,
    /// Redis could not serve the call (and, for a decision, the failure mode is `closed`).
    RedisUnavailable,
    /// `/readyz`: the node cannot serve exact decisions yet.
    NotReady,
    /// The client is blocked for a while (key enumeration, a honeypot key), whatever the key.
    ClientBlocked,
    /// Too many wrong admin tokens from this address: refused for a while, even with the right
    /// one.
    TooManyAuthFailures,
    /// `PUT`/`DELETE` of a policy that an envoy configuration file owns (409): change the file.
    PolicyOwnedByFile,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown error code {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_strings_are_the_documented_ones_and_round_trip() {
        let wire: Vec<&str> = ErrorCode::VARIANTS.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            wire,
            [
                "bad_request",
                "invalid_key",
                "invalid_cost",
                "invalid_policy",
                "unknown_policy",
                "no_policy",
                "payload_too_large",
                "unauthorized",
                "not_found",
                "method_not_allowed",
                "redis_unavailable",
                "not_ready",
                "client_blocked",
                "too_many_auth_failures",
            ]
        );
        for code in ErrorCode::VARIANTS {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
            assert_eq!(code.as_str().parse::<ErrorCode>().unwrap(), *code);
        }
        assert!(serde_json::from_str::<ErrorCode>("\"sideways\"").is_err());
    }
}
