//! Typed remediation actions.
//!
//! A subject declares the actions it can take as a Rust type implementing [`Action`] (usually an
//! enum, one variant per action, serialized as `{"action": "<name>", "args": {...}}`). Diagnosers
//! and agents only ever see the catalog ([`ActionSpec`]) and can only request an action by
//! producing a value that deserializes into that type: there is no free-form command.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A remediation action a subject can execute.
///
/// Implementations are plain data: deserializing one from `{"action": ..., "args": ...}` is how an
/// untrusted recommendation (a rule, a model) becomes something the subject can run.
pub trait Action:
    Serialize + DeserializeOwned + std::fmt::Debug + Clone + Send + Sync + 'static
{
    /// Every action of this type, with its parameters, for diagnosis context and validation.
    fn catalog() -> Vec<ActionSpec>;

    /// The name of this action, as in its [`ActionSpec`].
    fn name(&self) -> &'static str;
}

/// Documentation of one action: what an agent or an operator is allowed to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// Name used in `{"action": name}` and in `--allow` lists.
    pub name: String,
    /// What the action does, in one or two sentences.
    pub description: String,
    /// Its parameters.
    pub params: Vec<ParamSpec>,
    /// Whether running it twice has the same effect as running it once.
    pub idempotent: bool,
}

impl ActionSpec {
    /// An action without parameters.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            params: Vec::new(),
            idempotent: true,
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn param(
        mut self,
        name: impl Into<String>,
        kind: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.params.push(ParamSpec {
            name: name.into(),
            kind: kind.into(),
            description: description.into(),
        });
        self
    }

    /// Marks the action as not idempotent.
    #[must_use]
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }
}

/// One parameter of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Parameter name, a key of `args`.
    pub name: String,
    /// Its JSON type, e.g. `string` or `integer`.
    pub kind: String,
    /// What it means.
    pub description: String,
}

/// What an executed action changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReport {
    /// The action that ran.
    pub action: String,
    /// Whether it changed anything (an idempotent action run twice reports `false` the second time).
    pub changed: bool,
    /// Human summary of what was done.
    pub summary: String,
    /// Details, e.g. the list of repaired items.
    pub details: serde_json::Value,
}

/// The action type of a subject that declares none. It has no values, so nothing can be executed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", content = "args")]
pub enum NoAction {}

impl Action for NoAction {
    fn catalog() -> Vec<ActionSpec> {
        Vec::new()
    }

    fn name(&self) -> &'static str {
        match *self {}
    }
}
