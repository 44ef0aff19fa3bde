//! Just enough PromQL and Prometheus text format to check a dashboard against what the nodes
//! export: the metric selectors of an expression (name and label matchers), the grouping labels
//! (`by (...)`), and the series of a `/metrics` page.

use std::collections::{BTreeMap, BTreeSet};

/// One label matcher of a selector: `label op "value"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

/// A metric selector: `name{matchers}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
}

/// What an expression names: its selectors and the labels it groups by.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub selectors: Vec<Selector>,
    pub grouping: BTreeSet<String>,
}

/// Words that are never a metric name: binary operators, modifiers, and the aggregations
/// (which may come before their `by (...)`).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "group_left",
    "group_right",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];
const GROUPING: &[&str] = &["by", "without", "on", "ignoring"];

/// The selectors and grouping labels of `expr`.
///
/// # Panics
/// On an unterminated string, range or matcher list.
pub fn names(expr: &str) -> Names {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Names::default();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i = skip_string(&chars, i);
        } else if c == '[' {
            i += chars[i..]
                .iter()
                .position(|&c| c == ']')
                .expect("unterminated range")
                + 1;
        } else if c == '{' {
            // A selector without a name: `{__name__=...}`; not used by our dashboards.
            let (matchers, next) = matchers(&chars, i);
            out.selectors.push(Selector {
                metric: String::new(),
                matchers,
            });
            i = next;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let next = chars.get(j).copied();
            if GROUPING.contains(&word.as_str()) && next == Some('(') {
                let end = j + chars[j..]
                    .iter()
                    .position(|&c| c == ')')
                    .expect("unterminated (");
                let labels: String = chars[j + 1..end].iter().collect();
                out.grouping.extend(
                    labels
                        .split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
                i = end + 1;
            } else if next == Some('(') || KEYWORDS.contains(&word.as_str()) {
                // A function or an aggregation: its arguments are scanned next.
            } else {
                let mut selector = Selector {
                    metric: word,
                    matchers: Vec::new(),
                };
                if next == Some('{') {
                    let (matchers, after) = matchers(&chars, j);
                    selector.matchers = matchers;
                    i = after;
                }
                out.selectors.push(selector);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    assert!(i < chars.len(), "unterminated string");
    i + 1
}

/// The matchers of `{...}` starting at `open`, and the index after `}`.
fn matchers(chars: &[char], open: usize) -> (Vec<Matcher>, usize) {
    let close = open
        + chars[open..]
            .iter()
            .position(|&c| c == '}')
            .expect("unterminated {");
    let text: String = chars[open + 1..close].iter().collect();
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let op_at = part.find(['=', '!']).expect("a matcher has an operator");
        let label = part[..op_at].trim().to_owned();
        let rest = &part[op_at..];
        let op_len = if rest.starts_with("=~") || rest.starts_with("!~") || rest.starts_with("!=") {
            2
        } else {
            1
        };
        let value = rest[op_len..].trim().trim_matches(['"', '\'']).to_owned();
        out.push(Matcher {
            label,
            op: rest[..op_len].to_owned(),
            value,
        });
    }
    (out, close + 1)
}

/// Whether `value` matches the anchored regular expression `pattern`, for the patterns
/// dashboards use: alternatives (`a|b`), literals and `.*` / `.+`.
///
/// # Panics
/// On any other regular-expression syntax (extend this, then).
pub fn regex_matches(pattern: &str, value: &str) -> bool {
    pattern.split('|').any(|alt| glob(alt, value))
}

fn glob(pattern: &str, value: &str) -> bool {
    assert!(
        !pattern.contains(['(', ')', '[', ']', '?', '\\', '^', '$', '{']) && {
            let p = pattern.replace(".*", "").replace(".+", "");
            !p.contains(['.', '*', '+'])
        },
        "regex {pattern:?} is beyond this test's matcher"
    );
    match pattern.find(".*").or_else(|| pattern.find(".+")) {
        None => pattern == value,
        Some(at) => {
            let (head, tail) = (&pattern[..at], &pattern[at + 2..]);
            let plus = pattern[at..].starts_with(".+");
            let Some(rest) = value.strip_prefix(head) else {
                return false;
            };
            // The wildcard takes 0 (or, for .+, 1) or more characters; try every split.
            (usize::from(plus)..=rest.len())
                .filter(|n| rest.is_char_boundary(*n))
                .any(|n| glob(tail, &rest[n..]))
        }
    }
}

/// The series of a Prometheus text page: metric name → the label sets of its samples.
pub fn series(page: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, labels) = match line.split_once('{') {
            Some((name, rest)) => {
                let body = &rest[..rest.rfind('}').expect("closing brace")];
                (name.to_owned(), parse_labels(body))
            }
            None => (
                line.split_whitespace().next().unwrap_or("").to_owned(),
                BTreeMap::new(),
            ),
        };
        out.entry(name).or_default().push(labels);
    }
    out
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(e);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').trim().to_owned(), value);
        rest = &after[end..];
    }
    labels
}

#[test]
fn selectors_and_grouping_are_found() {
    let n = names(
        r#"histogram_quantile(0.99, sum by (le, node) (rate(x_bucket{a="1", b=~"f_.*"}[1m]))) / y"#,
    );
    let metrics: Vec<&str> = n.selectors.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(metrics, ["x_bucket", "y"]);
    assert_eq!(n.selectors[0].matchers.len(), 2);
    assert_eq!(n.selectors[0].matchers[1].op, "=~");
    assert_eq!(n.selectors[0].matchers[1].value, "f_.*");
    assert_eq!(
        n.grouping.into_iter().collect::<Vec<_>>(),
        ["le".to_owned(), "node".to_owned()]
    );
    let n = names("sum(rate(a_total[5m])) by (kind) > 0.5 and on (node) b offset 1m");
    let metrics: Vec<&str> = n.selectors.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(metrics, ["a_total", "b"]);
    assert!(n.grouping.contains("kind") && n.grouping.contains("node"));
}

#[test]
fn the_small_regex_matcher_is_anchored() {
    assert!(regex_matches("failure_.*", "failure_open_allowed"));
    assert!(!regex_matches("failure_.*", "denied"));
    assert!(!regex_matches("failure_.+", "failure_"));
    assert!(regex_matches("allowed|denied", "denied"));
    assert!(!regex_matches("allowed", "allowed_x"));
    assert!(regex_matches(".*_denied", "failure_local_denied"));
}

#[test]
fn text_pages_are_read_into_series() {
    let s = series("# HELP a x\n# TYPE a counter\na{node=\"n\\\"1\",result=\"allowed\"} 3\nb 1\n");
    assert_eq!(s["a"][0]["node"], "n\"1");
    assert_eq!(s["a"][0]["result"], "allowed");
    assert!(s["b"][0].is_empty());
}
