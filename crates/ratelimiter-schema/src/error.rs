//! Errors of the schema crate.

/// A policy (or a set of policies) that breaks the rules of [`crate::policy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The name is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("invalid policy name {0:?}: use 1 to 64 characters among A-Z a-z 0-9 _ -")]
    InvalidName(String),
    /// The glob pattern is empty or too long.
    #[error("invalid match pattern {0:?}: use 1 to 256 characters")]
    InvalidPattern(String),
    /// A policy other than `default` has no pattern.
    #[error("policy {0:?} needs a \"match\" pattern")]
    MissingPattern(String),
    /// The `default` policy was given a pattern other than `*`.
    #[error(
        "the default policy matches every key no other policy matches; its \"match\" must be absent or \"*\""
    )]
    DefaultPattern,
    /// No window at all.
    #[error("a policy needs at least one window")]
    NoWindows,
    /// More windows than [`crate::policy::MAX_WINDOWS`].
    #[error("a policy has at most {max} windows, got {got}")]
    TooManyWindows {
        /// The maximum.
        max: usize,
        /// How many were given.
        got: usize,
    },
    /// Two windows of one policy have the same length (their counters would share a key).
    #[error("two windows of one policy have the same window_ms {0}")]
    DuplicateWindow(u64),
    /// A limit outside `1..=MAX_LIMIT`.
    #[error("limit must be between 1 and {max}, got {got}")]
    InvalidLimit {
        /// The maximum.
        max: u64,
        /// The value given.
        got: u64,
    },
    /// A window length outside `1..=MAX_WINDOW_MS`.
    #[error("window_ms must be between 1 and {max}, got {got}")]
    InvalidWindow {
        /// The maximum.
        max: u64,
        /// The value given.
        got: u64,
    },
    /// A `burst` on a window of a policy whose algorithm is not `gcra`.
    #[error(
        "window_ms {0}: burst is only used by \"algorithm\": \"gcra\"; remove it or set the algorithm"
    )]
    BurstWithoutGcra(u64),
    /// A `burst` outside `1..=MAX_LIMIT`.
    #[error("burst must be between 1 and {max}, got {got}")]
    InvalidBurst {
        /// The maximum.
        max: u64,
        /// The value given.
        got: u64,
    },
    /// A `burst` whose full bucket would take longer than `max_ms` to refill.
    #[error(
        "window_ms {window_ms}: burst × window_ms / limit (the refill time of a full bucket) must be at most {max_ms} ms"
    )]
    BurstTooLarge {
        /// The window.
        window_ms: u64,
        /// The longest refill.
        max_ms: u64,
    },
    /// More policies than [`crate::policy::MAX_POLICIES`].
    #[error("at most {0} policies")]
    TooManyPolicies(usize),
    /// A policy stored or sent as JSON/TOML that does not parse.
    #[error("policy {name:?} does not parse: {detail}")]
    Parse {
        /// The policy name.
        name: String,
        /// What the parser said.
        detail: String,
    },
}

/// A key name or key prefix that the key schema cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The user key is empty.
    #[error("the key is empty")]
    Empty,
    /// The user key is longer than [`crate::keys::MAX_USER_KEY_BYTES`].
    #[error("the key is {got} bytes long; the maximum is {max}")]
    TooLong {
        /// The maximum.
        max: usize,
        /// Its length.
        got: usize,
    },
    /// The key prefix is unusable (empty, too long, or has `{`, `}` or glob characters).
    #[error(
        "invalid key prefix {0:?}: use 1 to 64 characters without {{ }} * ? [ ] \\ or whitespace"
    )]
    InvalidPrefix(String),
}
