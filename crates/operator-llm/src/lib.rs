//! Model-backed diagnosers: a [`Diagnoser`](operator_core::Diagnoser) that asks a language model.
//!
//! Two wire protocols cover the models worth asking: Anthropic's Messages API
//! ([`AnthropicDiagnoser`]) and OpenAI's Chat Completions, which OpenAI serves and so do local
//! servers such as Ollama, vLLM and llama.cpp ([`OpenAiDiagnoser`]). Both send the same prompt
//! (the redacted, trimmed context document and the JSON schema of a diagnosis, see [`prompt`]),
//! retry on 429 and 5xx answers and on timeouts (honouring `retry-after`), and validate the
//! answer against the schema and the subject's declared actions; an invalid answer is sent back
//! once with the problems found, then given up on. Wrap them in
//! [`Fallback`](operator_core::Fallback) so that a failure yields the offline diagnosis instead.
//!
//! # Layout
//! - [`config`]: [`LlmConfig`] (endpoint, key, model, timeouts, retries), validated once.
//! - `retry`: the request loop (timeouts, backoff with jitter, `retry-after`), recording every
//!   exchange for the audit trail.
//! - [`prompt`]: the instructions and the context as the model sees them.
//! - `conversation`: ask, validate, send the problems back: the loop both protocols share.
//! - `anthropic` and `openai`: the two protocols (request body, answer, errors).
//! - [`Error`]: what can go wrong, classified with [`Error::is_transient`].

mod anthropic;
pub mod config;
mod conversation;
mod error;
mod openai;
pub mod prompt;
mod retry;

pub use anthropic::{ANTHROPIC_VERSION, AnthropicDiagnoser};
pub use config::{LlmConfig, TokenField};
pub use error::Error;
pub use openai::OpenAiDiagnoser;
