//! The OpenAI-compatible client against a simulator of Chat Completions: request shape (with and
//! without a key, both output-limit fields), retries, timeouts, and invalid model output.

mod support;

use std::time::Duration;

use operator_core::diagnosis::{DiagnoseErrorKind, Diagnoser};
use operator_core::{Fallback, OfflineDiagnoser};
use operator_llm::{LlmConfig, OpenAiDiagnoser, TokenField};
use support::{Reply, Sim, context};

fn client(sim: &Sim, key: Option<&str>) -> OpenAiDiagnoser {
    let mut c = LlmConfig::openai(&sim.base_url, "llama3.1")
        .timeout(Duration::from_millis(500))
        .initial_backoff(Duration::from_millis(10));
    if let Some(k) = key {
        c = c.api_key(k);
    }
    OpenAiDiagnoser::new(c).unwrap()
}

#[tokio::test]
async fn the_request_is_shaped_as_documented_and_the_answer_validated() {
    let sim = Sim::openai(Some("sk-proj-abc")).await;
    let report = client(&sim, Some("sk-proj-abc"))
        .diagnose(&context())
        .await
        .unwrap();
    assert_eq!(report.diagnoser, "openai/llama3.1");
    assert_eq!(report.diagnosis.actions[0].action, "restart");
    assert!(report.usage.input_tokens > 100);
    let seen = sim.seen();
    let h = &seen[0].headers;
    assert_eq!(h["authorization"], "Bearer sk-proj-abc");
    assert_eq!(h["content-type"], "application/json");
    let b = &seen[0].body;
    assert_eq!(b["model"], "llama3.1");
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][1]["role"], "user");
    assert_eq!(b["max_tokens"], 2000, "local servers read max_tokens");
    assert!(b.get("max_completion_tokens").is_none());
    assert_eq!(b["response_format"]["type"], "json_object");
}

#[tokio::test]
async fn a_local_server_needs_no_key_and_openai_gets_max_completion_tokens() {
    let sim = Sim::openai(None).await;
    let mut c = LlmConfig::openai(&sim.base_url, "gpt-test");
    c.token_field = TokenField::MaxCompletionTokens;
    c.json_mode = false;
    OpenAiDiagnoser::new(c)
        .unwrap()
        .diagnose(&context())
        .await
        .unwrap();
    let seen = sim.seen();
    assert!(!seen[0].headers.contains_key("authorization"));
    assert_eq!(seen[0].body["max_completion_tokens"], 2000);
    assert!(seen[0].body.get("response_format").is_none());
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let sim = Sim::openai(None).await;
    sim.then([
        Reply::Error {
            status: 429,
            kind: "rate_limit_exceeded",
            message: "Rate limit reached",
            headers: vec![("retry-after-ms", "300".into())],
        },
        Reply::error(503, "server_error"),
    ]);
    let report = client(&sim, None).diagnose(&context()).await.unwrap();
    let seen = sim.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(280));
    let statuses: Vec<_> = report.exchanges.iter().map(|x| x.status).collect();
    assert_eq!(statuses, [Some(429), Some(503), Some(200)]);
}

#[tokio::test]
async fn errors_carry_the_providers_message() {
    let sim = Sim::openai(Some("right")).await;
    let e = client(&sim, Some("wrong"))
        .diagnose(&context())
        .await
        .unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::Rejected);
    assert!(
        e.message.contains("Incorrect API key provided"),
        "{}",
        e.message
    );
    assert_eq!(sim.seen().len(), 1);
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let sim = Sim::openai(None).await;
    sim.then(vec![Reply::Hang; 4]);
    let e = client(&sim, None).diagnose(&context()).await.unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::Unavailable);
    assert!(e.message.contains("no response within"), "{}", e.message);
}

#[tokio::test]
async fn malformed_output_falls_back_to_the_offline_diagnosis() {
    let sim = Sim::openai(None).await;
    sim.then([
        Reply::Output("{\"summary\": \"x\", \"confidence\": \"high\"}".into()),
        Reply::Output("{not json".into()),
    ]);
    let d = Fallback::new(Box::new(client(&sim, None)), OfflineDiagnoser::default());
    let report = d.diagnose(&context()).await.unwrap();
    assert_eq!(report.diagnoser, "offline");
    assert!(report.diagnosis.root_cause.starts_with("undetermined"));
    let why = report.fallback.unwrap();
    assert!(why.contains("not a valid diagnosis"), "{why}");
    // The first answer's problems were sent back.
    let repair = sim.seen()[1].body["messages"][3]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        repair.contains("confidence: missing or not a number"),
        "{repair}"
    );
}
