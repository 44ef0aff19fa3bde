//! Loading `--envoy-config` files: parse, put the domain in force in process, and make the
//! domain's policies in Redis match (one atomic script call that writes only on a difference, so
//! nodes loading the same content cause no version churn). A file that fails keeps its last good
//! content in force, with the reason in the log and in `/v1/node` (`envoy_config`).
//!
//! [`watch_envoy_configs`] reloads a file when it changes (a `notify` watcher on its directory,
//! so editors that replace the file are seen too) and, every [`RECHECK`], re-reads the files and
//! re-asserts the policies in Redis (after Redis restarted empty, or if an event was missed).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::node::Node;
use crate::rls::config::DomainConfig;
use crate::rls::error::RlsConfigError;
use crate::rls::rules::DomainRules;

/// How often files are re-read and the policies in Redis re-asserted without an event.
pub const RECHECK: Duration = Duration::from_millis(500);

/// What loading one file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The content in force is the file's (nothing changed).
    Unchanged,
    /// New content is in force.
    Loaded {
        /// The domain.
        domain: String,
        /// Its digest.
        digest: String,
    },
}

impl Node {
    /// Loads one configuration file's text as `origin` (in process only: see
    /// [`Node::sync_rls_policies`] for Redis). The tower layer and tests can call this with
    /// YAML that is not in a file.
    ///
    /// # Errors
    /// [`RlsConfigError`]: the previous content of `origin` stays in force.
    pub fn load_envoy_config(&self, origin: &str, text: &str) -> Result<LoadOutcome, RlsConfigError> {
        let result = DomainConfig::from_yaml(origin, text).and_then(|config| {
            let rules = DomainRules::compile(&config);
            let clash = self.rls.files().into_iter().find(|f| {
                f.path != origin && f.domain.as_deref() == Some(rules.domain.as_str())
            });
            match clash {
                Some(other) => Err(RlsConfigError::DuplicateDomain {
                    origin: origin.to_owned(),
                    domain: rules.domain.clone(),
                    other: other.path,
                }),
                None => Ok(rules),
            }
        });
        let rules = match result {
            Ok(rules) => rules,
            Err(error) => {
                self.rls
                    .update_file(origin, |s| s.error = Some(error.to_string()));
                return Err(error);
            }
        };
        let previous = self.rls.files().into_iter().find(|f| f.path == origin);
        if let Some(prev) = &previous
            && prev.digest.as_deref() == Some(rules.digest.as_str())
        {
            self.rls.update_file(origin, |s| s.error = None);
            return Ok(LoadOutcome::Unchanged);
        }
        if let Some(old) = previous.and_then(|p| p.domain)
            && old != rules.domain
        {
            self.rls.remove(&old);
        }
        let (domain, digest, policies) = (
            rules.domain.clone(),
            rules.digest.clone(),
            rules.policies().len(),
        );
        self.rls.install(rules);
        self.rls.update_file(origin, |s| {
            s.domain = Some(domain.clone());
            s.digest = Some(digest.clone());
            s.policies = policies;
            s.error = None;
            s.in_redis = false;
        });
        tracing::info!(file = origin, %domain, %digest, policies, "envoy config loaded");
        Ok(LoadOutcome::Loaded { domain, digest })
    }

    /// Reads and loads `path` ([`Node::load_envoy_config`]).
    ///
    /// # Errors
    /// As [`Node::load_envoy_config`], and [`RlsConfigError::Read`].
    pub fn load_envoy_file(&self, path: &Path) -> Result<LoadOutcome, RlsConfigError> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => self.load_envoy_config(&origin, &text),
            Err(e) => {
                let error = RlsConfigError::Read {
                    origin: origin.clone(),
                    detail: e.to_string(),
                };
                self.rls
                    .update_file(&origin, |s| s.error = Some(error.to_string()));
                Err(error)
            }
        }
    }

    /// Loads every `--envoy-config` file, logging the ones refused.
    pub fn load_envoy_files(&self) {
        for path in &self.config.envoy_config {
            if let Err(error) = self.load_envoy_file(path) {
                tracing::warn!(%error, "envoy config refused; the last good content stays in force");
            }
        }
    }

    /// Makes the policies of every domain in force equal in Redis, where the node's loaded set
    /// (from Redis) differs; reloads the node's policies after a write.
    ///
    /// # Errors
    /// Redis failures or timeouts (retried by the caller's next pass).
    pub async fn sync_rls_policies(&self) -> Result<(), crate::StoreError> {
        let mut wrote = false;
        for file in self.rls.files() {
            let Some(rules) = file.domain.as_deref().and_then(|d| self.rls.domain(d)) else {
                continue;
            };
            let loaded = self.policies();
            let same = loaded.from_redis && {
                let have: Vec<_> = loaded
                    .set
                    .sorted()
                    .into_iter()
                    .filter(|p| p.name.starts_with(&rules.policy_prefix))
                    .collect();
                have.len() == rules.policies().len()
                    && have.iter().zip(rules.policies()).all(|(a, b)| *a == b)
            };
            if !same {
                let mut result = self
                    .store
                    .replace_rls_policies(&rules.policy_prefix, rules.policies())
                    .await?;
                if result.is_none() {
                    self.seed_policies().await?;
                    result = self
                        .store
                        .replace_rls_policies(&rules.policy_prefix, rules.policies())
                        .await?;
                }
                if let Some(Some(version)) = result {
                    tracing::info!(domain = %rules.domain, version, "envoy config policies written to redis");
                }
                wrote = true;
            }
            self.rls.update_file(&file.path, |s| s.in_redis = true);
        }
        if wrote {
            self.reload_policies().await?;
        }
        Ok(())
    }
}

/// Reloads the `--envoy-config` files on change and re-asserts their policies in Redis, until
/// `shutdown` flips. Without files it returns at once.
pub async fn watch_envoy_configs(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let files = node.config.envoy_config.clone();
    if files.is_empty() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let _watcher = start_watcher(&files, tx);
    let mut tick = tokio::time::interval(RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = rx.recv() => {
                // Let a burst of events (write, rename, chmod) settle into one reload.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while rx.try_recv().is_ok() {}
            }
            _ = shutdown.changed() => return,
        }
        node.load_envoy_files();
        match node.sync_rls_policies().await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("envoy config policies in redis again");
            }
            Ok(()) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot write envoy config policies to redis; will retry");
            }
            Err(_) => {}
        }
    }
}

/// A watcher on the directories of `files` that sends on `tx` for any event touching one of
/// them; `None` (polling alone) when it cannot be set up.
fn start_watcher(
    files: &[PathBuf],
    tx: mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let names: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
    let wanted = names.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| wanted.iter().any(|w| w == p))
        {
            let _ = tx.send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(error) => {
            tracing::warn!(%error, "cannot watch envoy config files; re-reading them every {RECHECK:?}");
            return None;
        }
    };
    for dir in names.iter().filter_map(|p| p.parent()) {
        if let Err(error) = watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(%error, dir = %dir.display(), "cannot watch directory; re-reading every {RECHECK:?}");
        }
    }
    Some(watcher)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
