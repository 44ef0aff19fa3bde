//! What the node holds of the rate-limit service: the compiled domains, and the status of each
//! configuration file (shown in `/v1/node` as `envoy_config`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::rls::rules::DomainRules;

/// The status of one `--envoy-config` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    /// The file.
    pub path: String,
    /// The domain in force from it (the last good content), if any.
    pub domain: Option<String>,
    /// The digest of the content in force.
    pub digest: Option<String>,
    /// Policies the domain put in Redis.
    pub policies: usize,
    /// Why the file's current content is refused (the last good one stays in force).
    pub error: Option<String>,
    /// Whether the domain's policies are in Redis as the file says.
    pub in_redis: bool,
}

/// The rate-limit service's state inside a [`crate::Node`].
#[derive(Debug, Default)]
pub struct RlsState {
    domains: RwLock<HashMap<String, Arc<DomainRules>>>,
    files: RwLock<Vec<FileStatus>>,
}

impl RlsState {
    /// The compiled rules of `domain`.
    pub fn domain(&self, domain: &str) -> Option<Arc<DomainRules>> {
        read(&self.domains).get(domain).cloned()
    }

    /// Every domain in force.
    pub fn domains(&self) -> Vec<Arc<DomainRules>> {
        read(&self.domains).values().cloned().collect()
    }

    /// Puts `rules` in force (replacing the domain's previous rules).
    pub fn install(&self, rules: DomainRules) {
        write(&self.domains).insert(rules.domain.clone(), Arc::new(rules));
    }

    /// Takes `domain` out of force.
    pub fn remove(&self, domain: &str) {
        write(&self.domains).remove(domain);
    }

    /// The status of every configuration file.
    pub fn files(&self) -> Vec<FileStatus> {
        read(&self.files).clone()
    }

    /// Updates (or adds) the status of `path`.
    pub fn update_file(&self, path: &str, f: impl FnOnce(&mut FileStatus)) {
        let mut files = write(&self.files);
        let i = match files.iter().position(|s| s.path == path) {
            Some(i) => i,
            None => {
                files.push(FileStatus {
                    path: path.to_owned(),
                    ..FileStatus::default()
                });
                files.len() - 1
            }
        };
        f(&mut files[i]);
    }
}

// Poisoned locks still hold complete values (they are only replaced whole).
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
