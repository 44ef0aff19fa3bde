//! The Anthropic client against a simulator of the Messages API: request shape, retries on 429
//! (with `retry-after`), 500 and 529, timeouts, and invalid model output.

mod support;

use std::time::Duration;

use operator_core::diagnosis::{DiagnoseErrorKind, Diagnoser, Finding, Rule};
use operator_core::{Fallback, OfflineDiagnoser};
use operator_llm::{ANTHROPIC_VERSION, AnthropicDiagnoser, LlmConfig};
use support::{Reply, Sim, context, valid_diagnosis};

const KEY: &str = "sk-ant-test-0123456789abcdef";

fn client(sim: &Sim) -> AnthropicDiagnoser {
    let mut c = LlmConfig::anthropic("claude-test")
        .api_key(KEY)
        .timeout(Duration::from_millis(500))
        .initial_backoff(Duration::from_millis(10));
    c.base_url = sim.base_url.clone();
    AnthropicDiagnoser::new(c).unwrap()
}

#[tokio::test]
async fn the_request_is_shaped_as_documented_and_the_answer_validated() {
    let sim = Sim::anthropic(KEY).await;
    let report = client(&sim).diagnose(&context()).await.unwrap();
    assert_eq!(report.diagnoser, "anthropic/claude-test");
    assert_eq!(report.diagnosis.root_cause, "unit a deadlocked");
    assert_eq!(report.diagnosis.actions[0].wire()["args"]["unit"], "a");
    assert!(report.usage.input_tokens > 100 && report.usage.output_tokens > 10);
    assert_eq!(report.exchanges.len(), 1);
    assert_eq!(report.exchanges[0].status, Some(200));

    let seen = sim.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(h["x-api-key"], KEY);
    assert_eq!(h["anthropic-version"], ANTHROPIC_VERSION);
    assert_eq!(h["content-type"], "application/json");
    assert!(!h.contains_key("authorization"));
    let b = &seen[0].body;
    assert_eq!(b["model"], "claude-test");
    assert_eq!(b["max_tokens"], 2000);
    assert_eq!(b["temperature"], 0.0);
    assert!(b["system"].as_str().unwrap().contains("JSON schema"));
    assert_eq!(b["messages"][0]["role"], "user");
    let content = b["messages"][0]["content"].as_str().unwrap();
    assert!(content.starts_with("Context document of ticket #7 (JSON):"));
    assert!(!content.contains(KEY), "the key travels in a header only");
    // The recorded request is the body, never the headers.
    assert!(!report.exchanges[0].request.contains(KEY));
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_delay() {
    let sim = Sim::anthropic(KEY).await;
    sim.then([Reply::rate_limited("1")]);
    let report = client(&sim).diagnose(&context()).await.unwrap();
    let seen = sim.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
    let statuses: Vec<_> = report.exchanges.iter().map(|x| x.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    assert!(report.exchanges[0].response.contains("rate_limit_error"));
}

#[tokio::test]
async fn overloaded_and_server_errors_are_retried_then_given_up() {
    let sim = Sim::anthropic(KEY).await;
    sim.then([
        Reply::error(529, "overloaded_error"),
        Reply::error(500, "api_error"),
    ]);
    let report = client(&sim).diagnose(&context()).await.unwrap();
    assert_eq!(report.exchanges.len(), 3);

    let sim = Sim::anthropic(KEY).await;
    sim.then(vec![Reply::error(529, "overloaded_error"); 10]);
    let e = client(&sim).diagnose(&context()).await.unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::Unavailable);
    assert!(
        e.message.contains("HTTP 529 overloaded_error"),
        "{}",
        e.message
    );
    assert_eq!(sim.seen().len(), 4, "one attempt and three retries");
    assert_eq!(e.exchanges.len(), 4);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_gives_up_at_once() {
    let sim = Sim::anthropic(KEY).await;
    sim.then([Reply::rate_limited("3600")]);
    let e = client(&sim).diagnose(&context()).await.unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::Unavailable);
    assert_eq!(sim.seen().len(), 1);
}

#[tokio::test]
async fn a_bad_key_is_not_retried() {
    let sim = Sim::anthropic("another-key").await;
    let e = client(&sim).diagnose(&context()).await.unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::Rejected);
    assert!(
        e.message.contains("401 authentication_error"),
        "{}",
        e.message
    );
    assert_eq!(sim.seen().len(), 1);
}

#[tokio::test]
async fn a_hanging_response_times_out_and_is_retried() {
    let sim = Sim::anthropic(KEY).await;
    sim.then([Reply::Hang, Reply::Hang, Reply::Hang, Reply::Hang]);
    let started = std::time::Instant::now();
    let e = client(&sim).diagnose(&context()).await.unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::Unavailable);
    assert!(
        e.message.contains("no response within 500 ms"),
        "{}",
        e.message
    );
    assert_eq!(sim.seen().len(), 4);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn an_invalid_answer_is_sent_back_once_then_given_up() {
    // Prose, then JSON naming an undeclared action: both invalid.
    let sim = Sim::anthropic(KEY).await;
    let mut bad = valid_diagnosis();
    bad["actions"][0]["action"] = "rm_rf".into();
    sim.then([
        Reply::Output("The unit is probably wedged, restart it.".into()),
        Reply::Output(bad.to_string()),
    ]);
    let e = client(&sim).diagnose(&context()).await.unwrap_err();
    assert_eq!(e.kind, DiagnoseErrorKind::InvalidOutput);
    assert!(
        e.message.contains("\"rm_rf\" is not a declared action"),
        "{}",
        e.message
    );
    let seen = sim.seen();
    assert_eq!(seen.len(), 2);
    let messages = seen[1].body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["role"], "assistant");
    assert!(
        messages[2]["content"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert!(
        e.usage.output_tokens > 0,
        "tokens are counted even when wasted"
    );

    // Repaired on the second try.
    let sim = Sim::anthropic(KEY).await;
    sim.then([Reply::Output(format!("```json\n{}", "{\"summary\": 1}"))]);
    let report = client(&sim).diagnose(&context()).await.unwrap();
    assert_eq!(report.exchanges.len(), 2);
}

#[tokio::test]
async fn with_a_fallback_a_failure_yields_the_offline_diagnosis_and_says_why() {
    let sim = Sim::anthropic(KEY).await;
    sim.then([
        Reply::Output("no idea".into()),
        Reply::Output("still no idea".into()),
    ]);
    let offline = OfflineDiagnoser::new(vec![Rule::new(
        "unit_wedged",
        &["unit_ok"],
        "the unit is wedged",
        "it is broken",
        |_| Some(Finding::new(0.6, "unit a is wedged")),
    )]);
    let d = Fallback::new(Box::new(client(&sim)), offline);
    assert_eq!(d.name(), "anthropic/claude-test");
    let report = d.diagnose(&context()).await.unwrap();
    assert_eq!(report.diagnoser, "offline");
    assert_eq!(report.rule.as_deref(), Some("unit_wedged"));
    let why = report.fallback.unwrap();
    assert!(
        why.starts_with(
            "anthropic/claude-test failed: anthropic: the model's answer is not a valid diagnosis"
        ),
        "{why}"
    );
    assert_eq!(
        report.exchanges.len(),
        2,
        "the failed exchanges are kept for the audit"
    );
}
