//! The [`Limiter`]: key templates over the node's rate-limit service, built once by
//! [`LimiterBuilder`] and shared by every clone of the layer.
//!
//! A request's descriptors (one per template that applies) are decided by
//! [`Node::should_rate_limit`] in the limiter's domain: the limits of envoyproxy/ratelimit's YAML
//! (`--envoy-config` files of the node), checked in one atomic Lua call on a single Redis, by the
//! node's failure mode while Redis cannot answer. A descriptor no limit matches is not limited.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Response};
use ipnet::IpNet;
use ratelimiter_node::rls::{RlsCode, RlsRequest, watch_envoy_configs};
use ratelimiter_node::{Config, Decision, Node};
use ratelimiter_schema::{ErrorCode, FailureMode};
use tokio::sync::watch;

use crate::error::{ConfigError, KeyError};
use crate::key::{ExtractContext, Extractor, JwtVerifier, KeyTemplate};
use crate::response;

/// What the layer does with a request.
#[derive(Debug)]
pub enum Verdict {
    /// Pass it on, and add these RateLimit headers to the response.
    Allow(HeaderMap),
    /// Answer this instead (429, 401, 400 or 503).
    Reject(Response<Body>),
}

/// Decides requests for one domain of the node's rate-limit service.
#[derive(Debug)]
pub struct Limiter {
    node: Arc<Node>,
    domain: String,
    keys: Vec<KeyTemplate>,
    ctx: ExtractContext,
}

/// Builds a [`Limiter`]: node configuration, domain and its YAML files, key templates, JWT key
/// and trusted proxies.
#[derive(Debug)]
#[must_use]
pub struct LimiterBuilder {
    config: Config,
    domain: Option<String>,
    keys: Vec<String>,
    vars: BTreeMap<String, Extractor>,
    jwt: Option<JwtVerifier>,
}

impl LimiterBuilder {
    /// Adds a key template (`user:{sub}:endpoint:{path}`, `remote_address:{ip}`: see
    /// [`KeyTemplate`]): each one that applies to a request is one descriptor; the request
    /// passes when none is over its limit.
    pub fn key(mut self, template: impl Into<String>) -> Self {
        self.keys.push(template.into());
        self
    }

    /// Names an extractor for templates: `.var("id", Extractor::JwtSubject)` makes `{id}` the JWT
    /// subject.
    pub fn var(mut self, name: impl Into<String>, extractor: Extractor) -> Self {
        self.vars.insert(name.into(), extractor);
        self
    }

    /// The verifier of bearer tokens, for `{sub}`.
    pub fn jwt(mut self, verifier: JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
    }

    /// Proxies whose `X-Forwarded-For`/`Forwarded` name the client, for `{ip}` (as the node's
    /// `--trusted-proxies`).
    pub fn trusted_proxies(mut self, proxies: Vec<IpNet>) -> Self {
        self.config.trusted_proxies = proxies;
        self
    }

    /// An envoyproxy/ratelimit YAML file (one domain), loaded by [`build`](Self::build) and
    /// reloaded on change by [`Limiter::run`].
    pub fn envoy_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.envoy_config.push(path.into());
        self
    }

    /// The domain of the requests (default: the domain of the one configuration file).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Validates everything, creates the node, loads the configuration files and stores their
    /// policies in Redis. Redis being down is not an error: the node decides by its failure
    /// mode, and [`Limiter::run`] stores the policies when Redis is back.
    ///
    /// # Errors
    /// A bad template, a template using `{sub}` without a JWT key, a refused configuration file
    /// (its line named), no domain, or a bad node configuration. Call it inside a Tokio runtime.
    pub async fn build(self) -> Result<Arc<Limiter>, ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        let keys = self
            .keys
            .iter()
            .map(|t| KeyTemplate::parse(t, &self.vars))
            .collect::<Result<Vec<_>, _>>()?;
        if self.jwt.is_none()
            && let Some(t) = keys.iter().find(|t| t.uses(&Extractor::JwtSubject))
        {
            return Err(ConfigError::NoJwtKey(t.to_string()));
        }
        let ctx = ExtractContext {
            trusted_proxies: self.config.trusted_proxies.clone(),
            jwt: self.jwt,
            identifier_secret: self.config.identifier_secret_bytes().map(<[u8]>::to_vec),
        };
        let node = Node::new(self.config)?;
        for path in &node.config().envoy_config {
            node.load_envoy_file(path)?;
        }
        let domain = match self.domain {
            Some(d) => d,
            None => match node.rls().files().as_slice() {
                [one] => one.domain.clone().ok_or(ConfigError::NoDomain)?,
                _ => return Err(ConfigError::NoDomain),
            },
        };
        if let Err(error) = node.sync_rls_policies().await {
            tracing::warn!(%error, "redis not reachable: policies stored when it is back");
        }
        Ok(Arc::new(Limiter {
            node,
            domain,
            keys,
            ctx,
        }))
    }
}

impl Limiter {
    /// A builder over a node configured by `config` (Redis URL, failure mode, key prefix,
    /// identifier secret, ...).
    pub fn builder(config: Config) -> LimiterBuilder {
        LimiterBuilder {
            config,
            domain: None,
            keys: Vec::new(),
            vars: BTreeMap::new(),
            jwt: None,
        }
    }

    /// The node deciding (its metrics, store and rate-limit service state).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The domain requests are decided in.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Reloads the configuration files when they change (and re-asserts their policies in
    /// Redis every [`ratelimiter_node::rls::RECHECK`]) until `shutdown` completes. A file that
    /// breaks is refused with its reason in the log; its last good content stays in force.
    /// Without configuration files it returns at once.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let watching = watch_envoy_configs(self.node.clone(), stopped);
        tokio::pin!(watching);
        tokio::select! {
            () = &mut watching => {}
            () = shutdown => {
                let _ = stop.send(true);
                watching.await;
            }
        }
    }

    /// The request of `parts` to the rate-limit service; `None` when no template applies.
    ///
    /// # Errors
    /// [`KeyError`] for a bad header (answered 400) or a missing or bad token (401).
    pub fn request(&self, parts: &Parts) -> Result<Option<RlsRequest>, KeyError> {
        let mut descriptors = Vec::with_capacity(self.keys.len());
        for template in &self.keys {
            if let Some(d) = template.descriptor(parts, &self.ctx)? {
                descriptors.push(d);
            }
        }
        Ok((!descriptors.is_empty()).then(|| RlsRequest {
            domain: self.domain.clone(),
            descriptors,
            hits_addend: 0,
        }))
    }

    /// Decides the request `parts`.
    pub async fn check(&self, parts: &Parts) -> Verdict {
        let request = match self.request(parts) {
            Ok(Some(r)) => r,
            Ok(None) => return Verdict::Allow(HeaderMap::new()),
            Err(e) => return Verdict::Reject(response::key_error(&e)),
        };
        let answer = match self.node.should_rate_limit(&request).await {
            Ok(a) => a,
            Err(e) => return Verdict::Reject(response::bad_request(ErrorCode::InvalidKey, &e)),
        };
        let decisions: Vec<Decision> = answer
            .statuses
            .iter()
            .filter_map(|s| response::decision(s, answer.degraded))
            .collect();
        if answer.overall == RlsCode::Ok {
            return Verdict::Allow(response::headers(&decisions));
        }
        if answer.degraded == Some(FailureMode::Closed) {
            // As the node's HTTP API: a `closed` node without Redis answers 503, not 429.
            return Verdict::Reject(response::unavailable(
                &"redis is unavailable and the failure mode is closed",
            ));
        }
        Verdict::Reject(response::too_many_requests(
            &self.node.config().node_id,
            &decisions,
        ))
    }
}
