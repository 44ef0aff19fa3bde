//! The JWT subject of a request: `Authorization: Bearer <token>`, its signature checked with a
//! configured key (an HMAC secret, or an RSA/EC public key in PEM), its `exp` (and `nbf`) checked,
//! and its `sub` claim returned.

use std::fmt;

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::error::{ConfigError, KeyError};

/// Checks bearer tokens and reads their subject. Cheap to clone.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret for HMAC: never printed.
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
}

impl JwtVerifier {
    /// Tokens signed with HMAC-SHA-256 under `secret` (`HS256`).
    ///
    /// # Errors
    /// [`ConfigError::JwtKey`] for an empty secret.
    pub fn hs256(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.is_empty() {
            return Err(ConfigError::JwtKey("the HMAC secret is empty".into()));
        }
        let key =
            DecodingKey::from_secret(secret).map_err(|e| ConfigError::JwtKey(e.to_string()))?;
        Ok(Self::new(key, Algorithm::HS256))
    }

    /// Tokens signed with RSA (`RS256`) by the private key of the PEM public key `pem`.
    ///
    /// # Errors
    /// [`ConfigError::JwtKey`] when `pem` is not an RSA public key.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| ConfigError::JwtKey(e.to_string()))?;
        Ok(Self::new(key, Algorithm::RS256))
    }

    /// Tokens signed with ECDSA P-256 (`ES256`) by the private key of the PEM public key `pem`.
    ///
    /// # Errors
    /// [`ConfigError::JwtKey`] when `pem` is not an EC public key.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| ConfigError::JwtKey(e.to_string()))?;
        Ok(Self::new(key, Algorithm::ES256))
    }

    fn new(key: DecodingKey, algorithm: Algorithm) -> Self {
        // `exp` is required and checked (with jsonwebtoken's default leeway of 60 s), so a leaked
        // token stops working; only the configured algorithm is accepted ("none" never is).
        let mut validation = Validation::new(algorithm);
        validation.validate_nbf = true;
        Self { key, validation }
    }

    /// Requires the `aud` claim to be one of `audiences`.
    #[must_use]
    pub fn with_audience(mut self, audiences: &[&str]) -> Self {
        self.validation.set_audience(audiences);
        self
    }

    /// Requires the `iss` claim to be one of `issuers`.
    #[must_use]
    pub fn with_issuer(mut self, issuers: &[&str]) -> Self {
        self.validation.set_issuer(issuers);
        self
    }

    /// The `sub` of the bearer token in `headers`.
    ///
    /// # Errors
    /// [`KeyError::MissingToken`] without `Authorization: Bearer`, [`KeyError::InvalidToken`]
    /// when the token does not verify (signature, expiry, audience...) or has no `sub`.
    pub fn subject(&self, headers: &HeaderMap) -> Result<String, KeyError> {
        let token = bearer(headers).ok_or(KeyError::MissingToken)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| KeyError::InvalidToken(e.to_string()))?;
        data.claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| KeyError::InvalidToken("the token has no `sub` claim".into()))
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn token(secret: &[u8], claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    }

    fn with_bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    }

    fn far() -> u64 {
        4_000_000_000
    }

    #[test]
    fn the_subject_of_a_valid_token_and_a_reason_for_each_bad_one() {
        let v = JwtVerifier::hs256(b"k1").unwrap();
        let good = token(b"k1", &serde_json::json!({"sub": "42", "exp": far()}));
        assert_eq!(v.subject(&with_bearer(&good)).unwrap(), "42");
        let cases = [
            (
                "wrong key",
                with_bearer(&token(
                    b"k2",
                    &serde_json::json!({"sub": "42", "exp": far()}),
                )),
            ),
            (
                "expired",
                with_bearer(&token(
                    b"k1",
                    &serde_json::json!({"sub": "42", "exp": 1000}),
                )),
            ),
            (
                "no exp",
                with_bearer(&token(b"k1", &serde_json::json!({"sub": "42"}))),
            ),
            (
                "no sub",
                with_bearer(&token(b"k1", &serde_json::json!({"exp": far()}))),
            ),
            ("garbage", with_bearer("a.b.c")),
        ];
        for (what, headers) in cases {
            assert!(
                matches!(v.subject(&headers), Err(KeyError::InvalidToken(_))),
                "{what}"
            );
        }
        // A token whose signature was altered: last character changed.
        let mut tampered = good.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(v.subject(&with_bearer(&tampered)).is_err());
        assert_eq!(v.subject(&HeaderMap::new()), Err(KeyError::MissingToken));
        let mut basic = HeaderMap::new();
        basic.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eA=="),
        );
        assert_eq!(v.subject(&basic), Err(KeyError::MissingToken));
    }

    #[test]
    fn an_empty_secret_is_refused_and_never_printed() {
        assert!(JwtVerifier::hs256(b"").is_err());
        let v = JwtVerifier::hs256(b"super-secret").unwrap();
        assert!(!format!("{v:?}").contains("super-secret"));
    }
}
