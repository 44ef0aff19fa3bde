//! Traces exported over OTLP: the node's decisions and the operator's ticks.
//!
//! (Skeleton: the exporter set-up lands with issue 17's tracing work.)
