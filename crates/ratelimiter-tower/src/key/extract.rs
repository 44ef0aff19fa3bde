//! Where a part of a key comes from: a header, an API key (fingerprinted), the client address
//! (behind trusted proxies), the JWT subject, the path or the method.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderName;
use axum::http::request::Parts;
use ipnet::IpNet;
use ratelimiter_node::http::client_addr::client_addr;
use ratelimiter_schema::fingerprint::fingerprint;

use crate::error::KeyError;
use crate::key::jwt::JwtVerifier;

/// One source of a key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extractor {
    /// A header's value as sent (a tenant, a plan: not a secret). Absent: the key does not apply.
    Header(HeaderName),
    /// A header carrying a secret (an API key): its keyed fingerprint `fp-<32 hex>`, never the
    /// value. Absent: the key does not apply.
    ApiKey(HeaderName),
    /// The client's address: the TCP peer (axum's `ConnectInfo<SocketAddr>`), or what trusted
    /// proxies say it is, as the node decides it (`ratelimiter_node::http::client_addr`).
    /// `unknown` without `ConnectInfo`.
    ClientAddr,
    /// The `sub` of a verified bearer token. Absent or invalid: the request is refused (401).
    JwtSubject,
    /// The request's path, without the query.
    Path,
    /// The request's method.
    Method,
}

/// What extracting needs besides the request: set once by the layer's builder.
#[derive(Debug, Clone, Default)]
pub struct ExtractContext {
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The verifier of [`Extractor::JwtSubject`].
    pub jwt: Option<JwtVerifier>,
    /// The secret of [`Extractor::ApiKey`] fingerprints (the node's identifier secret).
    pub identifier_secret: Option<Vec<u8>>,
}

impl Extractor {
    /// This extractor's value for the request `parts`: `None` when it does not apply.
    ///
    /// # Errors
    /// [`KeyError`] for a header that is not visible ASCII or empty, or a missing or invalid
    /// bearer token.
    pub fn extract(&self, parts: &Parts, ctx: &ExtractContext) -> Result<Option<String>, KeyError> {
        match self {
            Self::Header(name) => header(parts, name).map(|v| v.map(str::to_owned)),
            Self::ApiKey(name) => {
                Ok(header(parts, name)?.map(|v| fingerprint(ctx.identifier_secret.as_deref(), v)))
            }
            Self::ClientAddr => Ok(Some(
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or_else(
                        || "unknown".to_owned(),
                        |ConnectInfo(peer)| {
                            client_addr(peer.ip(), &parts.headers, &ctx.trusted_proxies).to_string()
                        },
                    ),
            )),
            Self::JwtSubject => {
                let verifier = ctx.jwt.as_ref().ok_or(KeyError::NoJwtKey)?;
                verifier.subject(&parts.headers).map(Some)
            }
            Self::Path => Ok(Some(parts.uri.path().to_owned())),
            Self::Method => Ok(Some(parts.method.as_str().to_owned())),
        }
    }
}

fn header<'a>(parts: &'a Parts, name: &HeaderName) -> Result<Option<&'a str>, KeyError> {
    let Some(value) = parts.headers.get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| KeyError::BadHeader(name.to_string(), "must be visible ASCII"))?;
    if text.is_empty() {
        return Err(KeyError::BadHeader(name.to_string(), "is empty"));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(req: Request<()>) -> Parts {
        req.into_parts().0
    }

    #[test]
    fn each_extractor_reads_its_part() {
        let ctx = ExtractContext {
            trusted_proxies: vec!["10.0.0.1/32".parse().unwrap()],
            identifier_secret: Some(b"s".to_vec()),
            ..ExtractContext::default()
        };
        let mut req = Request::post("/orders/7?x=1")
            .header("x-tenant", "acme")
            .header("x-api-key", "sk-1")
            .header("x-forwarded-for", "203.0.113.9")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 5000))));
        let p = parts(req);
        let get = |e: Extractor| e.extract(&p, &ctx).unwrap();
        assert_eq!(
            get(Extractor::Header(HeaderName::from_static("x-tenant"))).as_deref(),
            Some("acme")
        );
        let fp = get(Extractor::ApiKey(HeaderName::from_static("x-api-key"))).unwrap();
        assert!(fp.starts_with("fp-") && !fp.contains("sk-1"), "{fp}");
        assert_eq!(
            get(Extractor::ClientAddr).as_deref(),
            Some("203.0.113.9"),
            "trusted proxy"
        );
        assert_eq!(get(Extractor::Path).as_deref(), Some("/orders/7"));
        assert_eq!(get(Extractor::Method).as_deref(), Some("POST"));
        assert_eq!(
            get(Extractor::Header(HeaderName::from_static("x-none"))),
            None
        );
        assert_eq!(
            Extractor::JwtSubject.extract(&p, &ctx),
            Err(KeyError::NoJwtKey)
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_and_no_peer_is_unknown() {
        let ctx = ExtractContext::default();
        let mut req = Request::get("/")
            .header("x-forwarded-for", "1.2.3.4")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
        assert_eq!(
            Extractor::ClientAddr
                .extract(&parts(req), &ctx)
                .unwrap()
                .as_deref(),
            Some("192.0.2.1")
        );
        let req = Request::get("/").body(()).unwrap();
        assert_eq!(
            Extractor::ClientAddr
                .extract(&parts(req), &ctx)
                .unwrap()
                .as_deref(),
            Some("unknown")
        );
        let req = Request::get("/").header("x-tenant", "").body(()).unwrap();
        assert!(matches!(
            Extractor::Header(HeaderName::from_static("x-tenant")).extract(&parts(req), &ctx),
            Err(KeyError::BadHeader(..))
        ));
    }
}
