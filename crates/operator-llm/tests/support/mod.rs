//! HTTP simulators of the Anthropic Messages API and OpenAI Chat Completions, as documented by
//! the providers: they check the request (headers, required body fields) like the real APIs do,
//! answer with the documented success and error shapes, and play scripted replies (errors with
//! `retry-after`, hanging responses, malformed model output).

#![allow(dead_code)] // each test file uses a different part

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use operator_core::context::SubjectSection;
use operator_core::{ActionSpec, Context, Severity, Ticket, TicketStatus};
use serde_json::{Value, json};

/// What the simulator answers to the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A success whose model output is this text.
    Output(String),
    /// An error status with the provider's error body of this type and message.
    Error {
        status: u16,
        kind: &'static str,
        message: &'static str,
        headers: Vec<(&'static str, String)>,
    },
    /// Never answer.
    Hang,
}

impl Reply {
    pub fn error(status: u16, kind: &'static str) -> Self {
        Reply::Error {
            status,
            kind,
            message: "simulated",
            headers: vec![],
        }
    }

    pub fn rate_limited(retry_after: &str) -> Self {
        Reply::Error {
            status: 429,
            kind: "rate_limit_error",
            message: "Number of requests has exceeded your per-minute rate limit",
            headers: vec![("retry-after", retry_after.to_owned())],
        }
    }
}

/// One request the simulator received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub at: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Anthropic,
    OpenAi,
}

#[derive(Clone)]
struct Shared {
    api: Api,
    key: Option<String>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A running simulator; stops when dropped.
pub struct Sim {
    /// The base URL to configure the client with.
    pub base_url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sim {
    /// Anthropic's API, accepting `key`.
    pub async fn anthropic(key: &str) -> Self {
        Self::start(Api::Anthropic, Some(key.to_owned())).await
    }

    /// An OpenAI-compatible API, requiring `key` when given (a local server needs none).
    pub async fn openai(key: Option<&str>) -> Self {
        Self::start(Api::OpenAi, key.map(str::to_owned)).await
    }

    async fn start(api: Api, key: Option<String>) -> Self {
        let shared = Shared {
            api,
            key,
            replies: Arc::default(),
            seen: Arc::default(),
        };
        let path = match api {
            Api::Anthropic => "/v1/messages",
            Api::OpenAi => "/v1/chat/completions",
        };
        let app = Router::new()
            .route(path, post(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let base_url = match api {
            Api::Anthropic => format!("http://{addr}"),
            Api::OpenAi => format!("http://{addr}/v1"),
        };
        Self {
            base_url,
            shared,
            task,
        }
    }

    /// Queues replies, answered in order; once they run out, every answer is a valid diagnosis.
    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        self.shared.replies.lock().unwrap().extend(replies);
        self
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn error_body(api: Api, kind: &str, message: &str) -> Value {
    match api {
        Api::Anthropic => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011CSimulated",
        }),
        Api::OpenAi => json!({
            "error": {"message": message, "type": kind, "param": null, "code": kind},
        }),
    }
}

fn error(api: Api, status: u16, kind: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(error_body(api, kind, message)),
    )
        .into_response()
}

async fn handle(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let seen_headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.seen.lock().unwrap().push(Seen {
        headers: seen_headers.clone(),
        body: parsed.clone(),
        at: Instant::now(),
    });
    // Authentication and required fields, as the real APIs check them.
    match s.api {
        Api::Anthropic => {
            if seen_headers.get("x-api-key") != s.key.as_ref() {
                return error(s.api, 401, "authentication_error", "invalid x-api-key");
            }
            if !seen_headers.contains_key("anthropic-version") {
                return error(
                    s.api,
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                );
            }
            if !parsed["model"].is_string()
                || !parsed["max_tokens"].is_u64()
                || parsed["messages"].as_array().is_none_or(Vec::is_empty)
            {
                return error(
                    s.api,
                    400,
                    "invalid_request_error",
                    "model, max_tokens and messages are required",
                );
            }
        }
        Api::OpenAi => {
            if let Some(key) = &s.key
                && seen_headers.get("authorization") != Some(&format!("Bearer {key}"))
            {
                return error(
                    s.api,
                    401,
                    "invalid_request_error",
                    "Incorrect API key provided",
                );
            }
            if !parsed["model"].is_string()
                || parsed["messages"].as_array().is_none_or(Vec::is_empty)
            {
                return error(
                    s.api,
                    400,
                    "invalid_request_error",
                    "model and messages are required",
                );
            }
        }
    }
    if seen_headers.get("content-type").map(String::as_str) != Some("application/json") {
        return error(
            s.api,
            400,
            "invalid_request_error",
            "content-type must be application/json",
        );
    }
    let reply = s.replies.lock().unwrap().pop_front();
    let text = match reply {
        None => valid_diagnosis().to_string(),
        Some(Reply::Output(text)) => text,
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            String::new()
        }
        Some(Reply::Error {
            status,
            kind,
            message,
            headers,
        }) => {
            let mut r = error(s.api, status, kind, message);
            for (name, value) in headers {
                r.headers_mut().insert(name, value.parse().unwrap());
            }
            return r;
        }
    };
    let input_tokens = body.len() / 4;
    let output_tokens = text.len() / 4;
    let model = parsed["model"].clone();
    let answer = match s.api {
        Api::Anthropic => json!({
            "id": "msg_01Simulated", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }),
        Api::OpenAi => json!({
            "id": "chatcmpl-simulated", "object": "chat.completion", "created": Utc::now().timestamp(),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
        }),
    };
    axum::Json(answer).into_response()
}

/// A diagnosis that passes the schema for [`context`].
pub fn valid_diagnosis() -> Value {
    json!({
        "summary": "Unit a is wedged; restart it.",
        "root_cause": "unit a deadlocked",
        "confidence": 0.75,
        "evidence": [{"source": "ticket.evidence.unit", "detail": "a"}],
        "alternatives": [{"cause": "network partition", "rejected_because": "unit b answers"}],
        "actions": [{"action": "restart", "args": {"unit": "a"}, "reason": "clears the deadlock"}],
        "risks": ["in-flight work on a is lost"],
    })
}

/// A small context document with one declared action, `restart(unit)`.
pub fn context() -> Context {
    let now = Utc::now();
    Context {
        generated_at: now,
        ticket: Ticket {
            id: 7,
            subject: "machine".into(),
            invariant: "unit_ok".into(),
            entity: Some("a".into()),
            severity: Severity::Critical,
            status: TicketStatus::Open,
            held: false,
            message: "unit a is broken".into(),
            evidence: json!({"unit": "a", "password": "***"}),
            occurrences: 3,
            first_seen: now,
            last_seen: now,
            resolved_at: None,
            resolution: None,
        },
        subject: SubjectSection {
            name: "machine".into(),
            description: "a machine of units".into(),
        },
        invariant: None,
        other_invariants: vec![],
        actions: vec![
            ActionSpec::new("restart", "restart a unit").param("unit", "string", "which"),
        ],
        now: None,
        timeline: vec![],
        observations: vec![],
        concurrent: vec![],
        similar: vec![],
        extra: vec![],
        trimmed: vec![],
    }
}
