//! Errors of the rate-limit service: bad configuration files and bad requests.

/// A configuration file that cannot be used (the last good one stays in force).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RlsConfigError {
    /// The file cannot be read.
    #[error("cannot read envoy config {origin}: {detail}")]
    Read {
        /// The file.
        origin: String,
        /// The I/O error.
        detail: String,
    },
    /// The YAML does not parse or breaks a rule of the format (the message names the line).
    #[error("invalid envoy config {origin}{}: {detail}", line_suffix(*.line))]
    Yaml {
        /// The file.
        origin: String,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong.
        detail: String,
    },
    /// A rule of the whole file is broken.
    #[error("invalid envoy config {origin}: {detail}")]
    Invalid {
        /// The file.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// Another file already defines this domain.
    #[error("envoy config {origin}: domain {domain:?} is already loaded from {other}")]
    DuplicateDomain {
        /// The file.
        origin: String,
        /// The domain.
        domain: String,
        /// The file that has it.
        other: String,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// A request the service refuses (gRPC `INVALID_ARGUMENT`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RlsRequestError {
    /// `domain` is empty.
    #[error("domain must not be empty")]
    NoDomain,
    /// No descriptor at all.
    #[error("descriptors must not be empty")]
    NoDescriptors,
    /// A descriptor without entries.
    #[error("descriptor {0} has no entries")]
    EmptyDescriptor(usize),
    /// An entry with an empty key.
    #[error("descriptor {0} has an entry with an empty key")]
    EmptyKey(usize),
    /// More descriptors than one request may carry.
    #[error("too many descriptors: at most {max}, got {got}")]
    TooManyDescriptors {
        /// The limit.
        max: usize,
        /// What the request had.
        got: usize,
    },
    /// More entries in one descriptor than the deepest tree.
    #[error("descriptor {index} has {got} entries; at most {max}")]
    TooManyEntries {
        /// The descriptor.
        index: usize,
        /// The limit.
        max: usize,
        /// What it had.
        got: usize,
    },
}
