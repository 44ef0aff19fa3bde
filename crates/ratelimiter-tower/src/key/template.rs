//! Composite keys: a template such as `user:{sub}:endpoint:{path}` is a list of `name:value`
//! entries, each value a literal or a `{variable}`; a request turns it into a descriptor
//! (`[("user", "42"), ("endpoint", "/orders")]`, the entries of an Envoy rate-limit descriptor)
//! and a flat key (`user:42:endpoint:/orders`).
//!
//! Variables: `{sub}` (the JWT subject), `{ip}` (the client address), `{path}`, `{method}`,
//! `{header.NAME}` (a header's value), `{apikey.NAME}` (a header's fingerprint), and any name
//! given to [`KeyTemplate::parse`] with its [`Extractor`] (e.g. `id` for the JWT subject).

use std::collections::BTreeMap;
use std::fmt;

use axum::http::HeaderName;
use axum::http::request::Parts;

use ratelimiter_node::rls::Descriptor;

use crate::error::{ConfigError, KeyError};
use crate::key::extract::{ExtractContext, Extractor};

/// One entry's value: fixed, or taken from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Literal(String),
    Var(Extractor),
}

/// A parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    text: String,
    entries: Vec<(String, Value)>,
}

impl fmt::Display for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl KeyTemplate {
    /// Parses `text` (`name:value` entries joined by `:`), with the built-in variables and
    /// `vars`.
    ///
    /// # Errors
    /// [`ConfigError::Template`] naming the template and what is wrong: an odd number of parts,
    /// an empty name, an unknown variable or a bad header name.
    pub fn parse(text: &str, vars: &BTreeMap<String, Extractor>) -> Result<Self, ConfigError> {
        let bad = |why: String| ConfigError::Template {
            template: text.to_owned(),
            why,
        };
        let parts: Vec<&str> = text.split(':').collect();
        if text.is_empty() || !parts.len().is_multiple_of(2) {
            return Err(bad(
                "use name:value entries joined by `:`, e.g. user:{sub}:endpoint:{path}".into(),
            ));
        }
        let mut entries = Vec::new();
        for pair in parts.chunks(2) {
            let (name, value) = (pair[0], pair[1]);
            if name.is_empty() || name.contains(['{', '}']) {
                return Err(bad(format!(
                    "entry name {name:?} must be a non-empty literal"
                )));
            }
            let value = match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Some(var) => Value::Var(variable(var, vars).map_err(&bad)?),
                None if value.is_empty() || value.contains(['{', '}']) => {
                    return Err(bad(format!(
                        "value {value:?} of {name:?} is neither a literal nor one {{variable}}"
                    )));
                }
                None => Value::Literal(value.to_owned()),
            };
            entries.push((name.to_owned(), value));
        }
        Ok(Self {
            text: text.to_owned(),
            entries,
        })
    }

    /// Whether a variable of the template is `extractor`.
    pub fn uses(&self, extractor: &Extractor) -> bool {
        self.entries
            .iter()
            .any(|(_, v)| matches!(v, Value::Var(e) if e == extractor))
    }

    /// The descriptor of the request `parts`: `None` when a header it needs is absent (the
    /// template does not apply, as an Envoy descriptor whose header is missing is not sent).
    ///
    /// # Errors
    /// [`KeyError`] from an extractor.
    pub fn descriptor(
        &self,
        parts: &Parts,
        ctx: &ExtractContext,
    ) -> Result<Option<Descriptor>, KeyError> {
        let mut out = Vec::with_capacity(self.entries.len());
        for (name, value) in &self.entries {
            let value = match value {
                Value::Literal(v) => v.clone(),
                Value::Var(e) => match e.extract(parts, ctx)? {
                    Some(v) => v,
                    None => return Ok(None),
                },
            };
            out.push((name.clone(), value));
        }
        Ok(Some(Descriptor::new(out)))
    }
}

/// The flat key of a descriptor: `name:value` entries joined by `:`.
pub fn flat_key(descriptor: &Descriptor) -> String {
    let mut key = String::new();
    for (i, entry) in descriptor.entries.iter().enumerate() {
        if i > 0 {
            key.push(':');
        }
        key.push_str(&entry.key);
        key.push(':');
        key.push_str(&entry.value);
    }
    key
}

fn variable(name: &str, vars: &BTreeMap<String, Extractor>) -> Result<Extractor, String> {
    if let Some(e) = vars.get(name) {
        return Ok(e.clone());
    }
    let header = |h: &str| {
        HeaderName::from_bytes(h.as_bytes()).map_err(|_| format!("{h:?} is not a header name"))
    };
    match name {
        "sub" => Ok(Extractor::JwtSubject),
        "ip" => Ok(Extractor::ClientAddr),
        "path" => Ok(Extractor::Path),
        "method" => Ok(Extractor::Method),
        _ => {
            if let Some(h) = name.strip_prefix("header.") {
                header(h).map(Extractor::Header)
            } else if let Some(h) = name.strip_prefix("apikey.") {
                header(h).map(Extractor::ApiKey)
            } else {
                Err(format!(
                    "unknown variable {{{name}}}: use sub, ip, path, method, header.NAME, apikey.NAME or a declared one"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn none() -> BTreeMap<String, Extractor> {
        BTreeMap::new()
    }

    #[test]
    fn templates_parse_into_entries_or_say_what_is_wrong() {
        let vars = BTreeMap::from([("id".to_owned(), Extractor::JwtSubject)]);
        let t = KeyTemplate::parse("user:{id}:endpoint:{path}", &vars).unwrap();
        assert!(t.uses(&Extractor::JwtSubject));
        assert_eq!(t.to_string(), "user:{id}:endpoint:{path}");
        for bad in [
            "",
            "user",
            "user:{id}:endpoint",
            ":{path}",
            "user:{nope}",
            "user:{header.bad header}",
            "user:x{path}",
            "user:",
        ] {
            let e = KeyTemplate::parse(bad, &none()).unwrap_err();
            assert!(e.to_string().contains("template"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_request_gives_a_descriptor_and_a_flat_key() {
        let t = KeyTemplate::parse(
            "tenant:{header.x-tenant}:endpoint:{path}:m:{method}:tier:free",
            &none(),
        )
        .unwrap();
        let ctx = ExtractContext::default();
        let p = Request::get("/a/b?q")
            .header("x-tenant", "acme")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let d = t.descriptor(&p, &ctx).unwrap().unwrap();
        assert_eq!(flat_key(&d), "tenant:acme:endpoint:/a/b:m:GET:tier:free");
        assert_eq!(
            (d.entries[0].key.as_str(), d.entries[0].value.as_str()),
            ("tenant", "acme")
        );
        let p = Request::get("/a").body(()).unwrap().into_parts().0;
        assert_eq!(
            t.descriptor(&p, &ctx).unwrap(),
            None,
            "no x-tenant: not applied"
        );
    }
}
