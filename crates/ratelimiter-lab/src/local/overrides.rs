//! Flag overrides: a component's usual arguments with some flags replaced or added, for
//! [`Environment::restart_with`](crate::Environment::restart_with).

/// `args` with each `(flag, value)` of `overrides` applied: the value following the last
/// occurrence of `flag` is replaced (the last one is what a command-line parser keeps), or
/// `flag value` is appended when `args` has no such flag.
pub(crate) fn apply(args: &[String], overrides: &[(String, String)]) -> Vec<String> {
    let mut out = args.to_vec();
    for (flag, value) in overrides {
        let at = out
            .iter()
            .rposition(|a| a == flag)
            .filter(|i| i + 1 < out.len());
        match at {
            Some(i) => out[i + 1].clone_from(value),
            None => out.extend([flag.clone(), value.clone()]),
        }
    }
    out
}

/// Owned copies of `overrides`, as the state file records them.
pub(crate) fn owned(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    overrides
        .iter()
        .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
        .collect()
}

/// `--flag value --other value`, for status notes and reports.
pub(crate) fn describe(overrides: &[(String, String)]) -> String {
    overrides
        .iter()
        .map(|(f, v)| format!("{f} {v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn overrides_replace_a_flag_s_value_or_are_appended() {
        let args = words("--listen 127.0.0.1:1 --key-prefix ratelimit: --failure-mode local");
        let o = owned(&[("--key-prefix", "other:"), ("--clock-offset-ms", "5000")]);
        assert_eq!(
            apply(&args, &o),
            words(
                "--listen 127.0.0.1:1 --key-prefix other: --failure-mode local \
                 --clock-offset-ms 5000"
            )
        );
        assert_eq!(apply(&args, &[]), args);
        // A flag as the very last word has no value to replace: the override is appended.
        assert_eq!(
            apply(&words("--x"), &owned(&[("--x", "1")])),
            words("--x --x 1")
        );
        assert_eq!(describe(&o), "--key-prefix other: --clock-offset-ms 5000");
    }
}
