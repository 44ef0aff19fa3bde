//! The JSON shape of a [`Diagnosis`], and the validation of untrusted output against it.
//!
//! A model's answer is text. [`parse`] finds the JSON object in it (bare, or in a fenced code
//! block), and [`validate`] checks every field the way a JSON schema would (types, required
//! fields, the confidence range) plus what a schema cannot: every recommended action must be one
//! the subject declares, with exactly the declared parameters, of the declared kinds. Only then
//! does it become a [`Diagnosis`].

use serde_json::{Map, Value, json};

use super::model::{Alternative, Citation, Diagnosis, Recommendation};
use crate::action::ActionSpec;

/// The JSON schema of a diagnosis, given to models and printed in the docs. Recommended actions
/// are constrained to `catalog`.
pub fn json_schema(catalog: &[ActionSpec]) -> Value {
    let names: Vec<&str> = catalog.iter().map(|a| a.name.as_str()).collect();
    let string = json!({"type": "string", "minLength": 1});
    json!({
        "type": "object",
        "required": ["summary", "root_cause", "confidence", "evidence", "alternatives", "actions", "risks"],
        "properties": {
            "summary": string,
            "root_cause": string,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "evidence": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["source", "detail"],
                "properties": {"source": string, "detail": string},
            }},
            "alternatives": {"type": "array", "items": {
                "type": "object", "required": ["cause", "rejected_because"],
                "properties": {"cause": string, "rejected_because": string},
            }},
            "actions": {"type": "array", "items": {
                "type": "object", "required": ["action", "args", "reason"],
                "properties": {
                    "action": {"type": "string", "enum": names},
                    "args": {"type": "object"},
                    "reason": string,
                },
            }},
            "risks": {"type": "array", "items": {"type": "string"}},
        },
    })
}

/// Finds the JSON object in a model's answer: the whole text, a fenced code block, or the span
/// from the first `{` to the last `}`.
///
/// # Errors
/// A one-line description when no JSON object can be found.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let fenced = trimmed.find("```").and_then(|start| {
        let body = &trimmed[start + 3..];
        let body = body.strip_prefix("json").unwrap_or(body);
        body.find("```").map(|end| body[..end].trim())
    });
    let candidates = [
        Some(trimmed),
        fenced,
        trimmed
            .find('{')
            .zip(trimmed.rfind('}'))
            .filter(|(a, b)| a < b)
            .map(|(a, b)| &trimmed[a..=b]),
    ];
    let mut last_error = String::from("empty answer");
    for c in candidates.into_iter().flatten() {
        match serde_json::from_str::<Value>(c) {
            Ok(v) if v.is_object() => return Ok(v),
            Ok(_) => last_error = "the answer is JSON but not an object".to_owned(),
            Err(e) => last_error = format!("the answer is not JSON: {e}"),
        }
    }
    Err(last_error)
}

/// Parses and validates a model's answer.
///
/// # Errors
/// Every problem found, each naming its JSON path.
pub fn parse(text: &str, catalog: &[ActionSpec]) -> Result<Diagnosis, Vec<String>> {
    let value = extract_json(text).map_err(|e| vec![e])?;
    validate(&value, catalog)
}

/// Validates a diagnosis as JSON against the schema and the action catalog.
///
/// # Errors
/// Every problem found, each naming its JSON path (e.g. `actions[0].args.key: missing`).
pub fn validate(value: &Value, catalog: &[ActionSpec]) -> Result<Diagnosis, Vec<String>> {
    let mut p = Problems::default();
    let Some(obj) = value.as_object() else {
        return Err(vec!["$: expected an object".to_owned()]);
    };
    let summary = p.string(obj, "summary", "summary");
    let root_cause = p.string(obj, "root_cause", "root_cause");
    let confidence = match obj.get("confidence").and_then(Value::as_f64) {
        Some(c) if (0.0..=1.0).contains(&c) => c,
        Some(c) => {
            p.push("confidence", format!("{c} is outside 0..=1"));
            0.0
        }
        None => {
            p.push("confidence", "missing or not a number");
            0.0
        }
    };
    let evidence: Vec<Citation> = p
        .objects(obj, "evidence")
        .into_iter()
        .map(|(path, o)| Citation {
            source: p.string(o, "source", &format!("{path}.source")),
            detail: p.string_or_value(o, "detail", &format!("{path}.detail")),
        })
        .collect();
    if evidence.is_empty() && obj.get("evidence").is_some_and(Value::is_array) {
        p.push("evidence", "cites nothing (at least one item is required)");
    }
    let alternatives: Vec<Alternative> = p
        .objects(obj, "alternatives")
        .into_iter()
        .map(|(path, o)| Alternative {
            cause: p.string(o, "cause", &format!("{path}.cause")),
            rejected_because: p.string(o, "rejected_because", &format!("{path}.rejected_because")),
        })
        .collect();
    let actions: Vec<Recommendation> = p
        .objects(obj, "actions")
        .into_iter()
        .map(|(path, o)| p.action(o, &path, catalog))
        .collect();
    let risks: Vec<String> = match obj.get("risks") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.as_str() {
                Some(s) => Some(s.to_owned()),
                None => {
                    p.push(&format!("risks[{i}]"), "not a string");
                    None
                }
            })
            .collect(),
        Some(_) => {
            p.push("risks", "not an array");
            Vec::new()
        }
        None => {
            p.push("risks", "missing");
            Vec::new()
        }
    };
    if !p.0.is_empty() {
        return Err(p.0);
    }
    Ok(Diagnosis {
        summary,
        root_cause,
        confidence,
        evidence,
        alternatives,
        actions,
        risks,
    })
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, path: &str, problem: impl Into<String>) {
        self.0.push(format!("{path}: {}", problem.into()));
    }

    fn string(&mut self, obj: &Map<String, Value>, field: &str, path: &str) -> String {
        match obj.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                self.push(path, "empty");
                String::new()
            }
            Some(_) => {
                self.push(path, "not a string");
                String::new()
            }
            None => {
                self.push(path, "missing");
                String::new()
            }
        }
    }

    /// A string, or any other non-null value written as JSON (models often cite numbers).
    fn string_or_value(&mut self, obj: &Map<String, Value>, field: &str, path: &str) -> String {
        match obj.get(field) {
            Some(Value::String(_)) | None => self.string(obj, field, path),
            Some(Value::Null) => {
                self.push(path, "null");
                String::new()
            }
            Some(v) => v.to_string(),
        }
    }

    /// The objects of the array `field`, with their paths.
    fn objects<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        field: &str,
    ) -> Vec<(String, &'a Map<String, Value>)> {
        match obj.get(field) {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item.as_object() {
                    Some(o) => Some((format!("{field}[{i}]"), o)),
                    None => {
                        self.push(&format!("{field}[{i}]"), "not an object");
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.push(field, "not an array");
                Vec::new()
            }
            None => {
                self.push(field, "missing");
                Vec::new()
            }
        }
    }

    fn action(
        &mut self,
        o: &Map<String, Value>,
        path: &str,
        catalog: &[ActionSpec],
    ) -> Recommendation {
        let name = self.string(o, "action", &format!("{path}.action"));
        let reason = self.string(o, "reason", &format!("{path}.reason"));
        let args = match o.get("args") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                self.push(&format!("{path}.args"), "not an object");
                Value::Object(Map::new())
            }
        };
        if name.is_empty() {
            return Recommendation {
                action: name,
                args,
                reason,
            };
        }
        let Some(spec) = catalog.iter().find(|s| s.name == name) else {
            let known: Vec<&str> = catalog.iter().map(|s| s.name.as_str()).collect();
            self.push(
                &format!("{path}.action"),
                format!(
                    "{name:?} is not a declared action (declared: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
            return Recommendation {
                action: name,
                args,
                reason,
            };
        };
        let given = args.as_object().cloned().unwrap_or_default();
        for param in &spec.params {
            let at = format!("{path}.args.{}", param.name);
            match given.get(&param.name) {
                None => self.push(&at, "missing"),
                Some(v) if !kind_matches(&param.kind, v) => {
                    self.push(&at, format!("expected {}, got {v}", param.kind));
                }
                Some(_) => {}
            }
        }
        for key in given.keys() {
            if !spec.params.iter().any(|p| &p.name == key) {
                self.push(
                    &format!("{path}.args.{key}"),
                    format!("{name} takes no such argument"),
                );
            }
        }
        Recommendation {
            action: name,
            args,
            reason,
        }
    }
}

fn kind_matches(kind: &str, v: &Value) -> bool {
    match kind {
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<ActionSpec> {
        vec![
            ActionSpec::new("restart", "restart a unit").param("unit", "string", "which"),
            ActionSpec::new("scale", "scale").param("replicas", "integer", "how many"),
            ActionSpec::new("flush", "flush"),
        ]
    }

    fn good() -> Value {
        json!({
            "summary": "unit a is wedged", "root_cause": "a deadlock in a",
            "confidence": 0.8,
            "evidence": [{"source": "ticket.evidence.error", "detail": "timeout"}, {"source": "now", "detail": 3}],
            "alternatives": [{"cause": "network", "rejected_because": "b answers"}],
            "actions": [{"action": "restart", "args": {"unit": "a"}, "reason": "clears it"}, {"action": "flush", "reason": "x"}],
            "risks": ["a restart drops in-flight work"],
        })
    }

    #[test]
    fn a_valid_diagnosis_parses_from_bare_or_fenced_text() {
        let d = validate(&good(), &catalog()).unwrap();
        assert_eq!(d.actions.len(), 2);
        assert_eq!(d.actions[1].args, json!({}));
        assert_eq!(d.evidence[1].detail, "3");
        let fenced = format!("Here you go:\n```json\n{}\n```\nBye.", good());
        assert_eq!(parse(&fenced, &catalog()).unwrap(), d);
        let prose = format!("Sure! {} Hope it helps.", good());
        assert_eq!(parse(&prose, &catalog()).unwrap(), d);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let mut v = good();
        v["confidence"] = json!(1.5);
        v["evidence"] = json!([]);
        v["actions"] = json!([
            {"action": "rm_rf", "args": {}, "reason": "x"},
            {"action": "scale", "args": {"replicas": "three", "zone": 1}, "reason": "x"},
            {"action": "restart", "args": {}, "reason": ""},
        ]);
        v.as_object_mut().unwrap().remove("risks");
        let problems = validate(&v, &catalog()).unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "confidence: 1.5 is outside",
            "evidence: cites nothing",
            "actions[0].action: \"rm_rf\" is not a declared action",
            "actions[1].args.replicas: expected integer",
            "actions[1].args.zone: scale takes no such argument",
            "actions[2].args.unit: missing",
            "actions[2].reason: empty",
            "risks: missing",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
    }

    #[test]
    fn non_json_answers_are_rejected() {
        assert!(
            parse("I think the disk is full.", &catalog()).unwrap_err()[0].contains("not JSON")
        );
        assert!(parse("[1, 2]", &catalog()).unwrap_err()[0].contains("not an object"));
        assert!(parse("", &catalog()).is_err());
    }

    #[test]
    fn the_schema_lists_the_declared_actions() {
        let s = json_schema(&catalog());
        assert_eq!(
            s["properties"]["actions"]["items"]["properties"]["action"]["enum"],
            json!(["restart", "scale", "flush"])
        );
    }
}
