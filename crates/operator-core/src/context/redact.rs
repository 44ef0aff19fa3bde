//! Secret redaction: what never leaves the operator in a context document or a prompt.
//!
//! Three kinds of secrets are replaced by `***`:
//! - the password of a URL (`scheme://user:secret@host` becomes `scheme://user:***@host`);
//! - bearer tokens and `key=value` / `key: value` pairs whose key names a secret (`password`,
//!   `token`, `secret`, `api_key`, `x-api-key`...), in any text, and `sk-...` API keys;
//! - the string value of a JSON field whose name is a secret's (`password`, `token`, `secret`,
//!   `authorization`, or ending in `_token`, `_password`, `_secret`), and of a field whose name
//!   ends in `_key` when the value looks like a credential (one word of at least eight
//!   characters without `:`, `/` or `{`, so a field naming a storage key is kept).

use serde_json::Value;

use super::document::Context;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Words that name a secret in `key=value` text.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "secret_key",
    "private_key",
    "x-api-key",
    "auth_token",
    "access_token",
    "admin_token",
    "admin-token",
];

/// The context with every secret replaced.
pub fn context(ctx: Context) -> Context {
    let Ok(mut value) = serde_json::to_value(&ctx) else {
        return ctx;
    };
    value_in_place(&mut value);
    serde_json::from_value(value).unwrap_or(ctx)
}

/// Replaces secrets in every string of `value`, and the values of secret-named fields.
pub fn value_in_place(value: &mut Value) {
    match value {
        Value::String(s) => {
            let r = text(s);
            if r != *s {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(value_in_place),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if let Value::String(s) = v
                    && secret_field(k, s)
                {
                    *s = MASK.to_owned();
                    continue;
                }
                value_in_place(v);
            }
        }
        _ => {}
    }
}

/// Whether the field `name` holding `value` is a secret.
fn secret_field(name: &str, value: &str) -> bool {
    if value.is_empty() || value == MASK {
        return false;
    }
    let n = name.to_ascii_lowercase();
    let named = ["password", "passwd", "token", "secret", "authorization"]
        .iter()
        .any(|w| n == *w || n.ends_with(&format!("_{w}")) || n.ends_with(&format!("-{w}")))
        || n == "api_key"
        || n == "apikey";
    if named {
        return true;
    }
    (n.ends_with("_key") || n.ends_with("-key"))
        && value.len() >= 8
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ':' | '/' | '{'))
}

/// `s` with URL passwords, bearer tokens, secret `key=value` pairs and `sk-` keys replaced.
pub fn text(s: &str) -> String {
    let s = url_passwords(s);
    let s = bearer_tokens(&s);
    let s = secret_pairs(&s);
    api_keys(&s)
}

/// Where a secret value ends: whitespace, a quote, or a separator.
fn value_end(s: &str, start: usize) -> usize {
    s[start..]
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '&' | ',' | ';' | ')' | '>'))
        .map_or(s.len(), |i| start + i)
}

fn url_passwords(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let auth_start = i + 3;
        out.push_str(&rest[..auth_start]);
        let after = &rest[auth_start..];
        let auth_end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '>'))
            .unwrap_or(after.len());
        let authority = &after[..auth_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, pass)) if !pass.is_empty() && pass != MASK => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    _ => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[auth_end..];
    }
    out.push_str(rest);
    out
}

fn bearer_tokens(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(i) = lower[pos..].find("bearer ") {
        let start = pos + i + "bearer ".len();
        let end = value_end(s, start);
        out.push_str(&s[pos..start]);
        if end > start {
            out.push_str(MASK);
        }
        pos = end.max(start);
    }
    out.push_str(&s[pos..]);
    out
}

fn secret_pairs(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    let mut i = 0;
    while i < lower.len() {
        let hit = SECRET_WORDS.iter().find(|w| {
            lower[i..].starts_with(*w)
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
                && matches!(bytes.get(i + w.len()), Some(b'=' | b':'))
        });
        let Some(word) = hit else {
            i += lower[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut start = i + word.len() + 1;
        while s[start..].starts_with(' ') {
            start += 1;
        }
        let end = value_end(s, start);
        if end > start && &s[start..end] != MASK {
            out.push_str(&s[pos..start]);
            out.push_str(MASK);
            pos = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&s[pos..]);
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `sk-` followed by at least 16 key characters (the shape of several providers' API keys).
fn api_keys(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    let bytes = s.as_bytes();
    let mut search = 0;
    while let Some(i) = s[search..].find("sk-") {
        let start = search + i;
        if start > 0 && is_word(bytes[start - 1]) {
            search = start + 3;
            continue;
        }
        let end = s[start + 3..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(s.len(), |j| start + 3 + j);
        if end - start - 3 >= 16 {
            out.push_str(&s[pos..start]);
            out.push_str("sk-");
            out.push_str(MASK);
            pos = end;
        }
        search = end.max(start + 3);
    }
    out.push_str(&s[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            text("connect to db://admin:hunter2@h:5/0 failed"),
            "connect to db://admin:***@h:5/0 failed"
        );
        assert_eq!(text("db://:pw@h"), "db://:***@h");
        assert_eq!(text("http://h:80/a?b=c"), "http://h:80/a?b=c");
        assert_eq!(text("db://user@h"), "db://user@h");
        assert_eq!(
            text("a://x:y@h and b://u:v@k/p"),
            "a://x:***@h and b://u:***@k/p"
        );
        assert_eq!(text("db://:***@h"), "db://:***@h");
    }

    #[test]
    fn tokens_and_secret_pairs_are_masked() {
        assert_eq!(
            text("Authorization: Bearer abc.def-123 sent"),
            "Authorization: Bearer *** sent"
        );
        assert_eq!(
            text("login password=s3cret&user=bob"),
            "login password=***&user=bob"
        );
        assert_eq!(text("x-api-key: k-123 next"), "x-api-key: *** next");
        assert_eq!(text("--admin-token=abc"), "--admin-token=***");
        assert_eq!(text("tokens: 5, max_tokens=3"), "tokens: 5, max_tokens=3");
        assert_eq!(
            text("key sk-ant-api03-abcdefghijklmnop end"),
            "key sk-*** end"
        );
        assert_eq!(text("task-runner sk-short"), "task-runner sk-short");
        assert_eq!(text("héllo wörld"), "héllo wörld");
    }

    #[test]
    fn secret_fields_are_masked_by_name() {
        let mut v = json!({
            "password": "p", "admin_token": "t", "Authorization": "Basic xyz",
            "api_key": "abc", "secret_key": "AKIAABCDEFGH", "storage_key": "app:c:{u}:1",
            "note": "see db://u:pw@h", "list": [{"token": "z"}], "tokens": 12, "key": "plain",
        });
        value_in_place(&mut v);
        assert_eq!(v["password"], MASK);
        assert_eq!(v["admin_token"], MASK);
        assert_eq!(v["Authorization"], MASK);
        assert_eq!(v["api_key"], MASK);
        assert_eq!(v["secret_key"], MASK);
        assert_eq!(v["storage_key"], "app:c:{u}:1");
        assert_eq!(v["note"], "see db://u:***@h");
        assert_eq!(v["list"][0]["token"], MASK);
        assert_eq!(v["tokens"], 12);
        assert_eq!(v["key"], "plain");
    }
}
