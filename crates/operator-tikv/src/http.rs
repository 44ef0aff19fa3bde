//! The HTTP plumbing shared by the PD and Prometheus clients: one `reqwest` client with
//! timeouts, and `GET` of JSON with errors that name the URL.

use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Longest part of an error body kept in an error message.
const BODY_EXCERPT: usize = 200;

/// A cheap-to-clone HTTP client whose every request is bounded by a timeout.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

/// A response read to the end.
pub(crate) struct Response {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Http {
    /// A client with these timeouts.
    ///
    /// # Errors
    /// [`Error::Client`] when the TLS backend cannot be initialised.
    pub(crate) fn new(request_timeout: Duration, connect_timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("operator-tikv/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Client)?;
        Ok(Self { client })
    }

    /// `GET url`, read to the end, whatever the status.
    pub(crate) async fn get(&self, url: Url) -> Result<Response> {
        let url_text = url.to_string();
        let request_error = |source| Error::Request {
            url: url_text.clone(),
            source,
        };
        let response = self.client.get(url).send().await.map_err(request_error)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(request_error)?.to_vec();
        Ok(Response {
            url: url_text,
            status,
            body,
        })
    }

    /// `GET url` and parse a 2xx JSON body.
    ///
    /// # Errors
    /// [`Error::Request`] when no response came, [`Error::Status`] for a non-2xx status,
    /// [`Error::Decode`] when the body is not the expected JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        let response = self.get(url).await?;
        if !(200..300).contains(&response.status) {
            return Err(response.status_error());
        }
        response.json()
    }
}

impl Response {
    /// Parses the body as JSON.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|source| Error::Decode {
            url: self.url.clone(),
            source,
        })
    }

    /// [`Error::Status`] for this response, with the start of its body.
    pub(crate) fn status_error(&self) -> Error {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
        Error::Status {
            url: self.url.clone(),
            status: self.status,
            body: if excerpt.len() < text.len() {
                format!("{excerpt}...")
            } else {
                excerpt
            },
        }
    }
}

/// `base` joined with an absolute API path (keeping any path prefix of `base`, as when PD sits
/// behind a proxy under `/pd-cluster-1/`).
///
/// # Errors
/// [`Error::Config`] when `base` is not a URL (validated configurations always are).
pub(crate) fn endpoint_url(base: &str, path_and_query: &str) -> Result<Url> {
    let base = base.trim_end_matches('/');
    let joined = format!("{base}{path_and_query}");
    Url::parse(&joined).map_err(|e| Error::Config(format!("{joined:?} is not a URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_keep_prefixes_and_queries() {
        let cases = [
            (
                "http://pd1:2379",
                "/pd/api/v1/stores",
                "http://pd1:2379/pd/api/v1/stores",
            ),
            (
                "http://pd1:2379/",
                "/pd/api/v1/stores",
                "http://pd1:2379/pd/api/v1/stores",
            ),
            (
                "https://proxy/pd-a/",
                "/pd/api/v1/health",
                "https://proxy/pd-a/pd/api/v1/health",
            ),
            (
                "http://pd1:2379",
                "/pd/api/v1/stats/region?count",
                "http://pd1:2379/pd/api/v1/stats/region?count",
            ),
        ];
        for (base, path, expected) in cases {
            assert_eq!(endpoint_url(base, path).unwrap().as_str(), expected);
        }
        assert!(endpoint_url("pd1", "/x").is_err());
    }
}
