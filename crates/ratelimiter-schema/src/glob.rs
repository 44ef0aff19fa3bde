//! Glob patterns for policy keys: `*` matches any run of characters (also none), `?` exactly
//! one character, `\` makes the next character literal; everything else matches itself.

/// Whether `text` matches the glob `pattern`.
///
/// Iterative with one backtrack point, so it runs in O(len(pattern) × len(text)) at worst and
/// never recurses.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let pat = tokens(pattern);
    let txt: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < txt.len() {
        match pat.get(p) {
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Token::Any) => {
                p += 1;
                t += 1;
            }
            Some(Token::Lit(c)) if *c == txt[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|tok| matches!(tok, Token::Star))
}

/// How specific a pattern is: more literal characters first, then fewer `*`, then fewer `?`.
/// Larger is more specific.
pub(crate) fn specificity(
    pattern: &str,
) -> (usize, std::cmp::Reverse<usize>, std::cmp::Reverse<usize>) {
    let toks = tokens(pattern);
    let lits = toks.iter().filter(|t| matches!(t, Token::Lit(_))).count();
    let stars = toks.iter().filter(|t| matches!(t, Token::Star)).count();
    let anys = toks.iter().filter(|t| matches!(t, Token::Any)).count();
    (lits, std::cmp::Reverse(stars), std::cmp::Reverse(anys))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Lit(char),
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => Token::Lit(chars.next().unwrap_or('\\')),
            c => Token::Lit(c),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_a_shell_glob() {
        let cases = [
            ("*", "", true),
            ("*", "anything:at{all}", true),
            ("login:*", "login:42", true),
            ("login:*", "login:", true),
            ("login:*", "logout:42", false),
            ("user:?", "user:7", true),
            ("user:?", "user:77", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*:admin", "user:admin", true),
            (r"lit\*", "lit*", true),
            (r"lit\*", "litX", false),
            ("exact", "exact", true),
            ("exact", "exact2", false),
            ("é*", "étoile", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(matches(pattern, text), want, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn longer_literals_are_more_specific() {
        assert!(specificity("login:admin:*") > specificity("login:*"));
        assert!(specificity("login:*") > specificity("*"));
        assert!(specificity("ab") > specificity("ab*"));
        assert!(specificity("a?") > specificity("a*"));
    }
}
