//! [`OtlpConfig`]: where and how spans are exported, and how many are sampled.
//!
//! Binaries read flags and variables and build the config; this module only parses their text
//! ([`Protocol`]'s `FromStr`, [`parse_sample_ratio`]) and applies the standard fallbacks
//! ([`endpoint_or_standard`]) over a lookup the binary passes in, so no library reads the
//! environment.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::OtlpError;

/// The standard variable naming the collector (a base URL: HTTP/protobuf appends `/v1/traces`).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable naming the protocol: `grpc` or `http/protobuf`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// The standard variable of the batch export interval, in ms (default here: 1000).
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// The default share of traces sampled at their root: 1 %. A caller's `traceparent` overrides
/// it either way (its sampled flag is followed).
pub const DEFAULT_SAMPLE_RATIO: f64 = 0.01;
/// The path HTTP/protobuf posts spans to, under the endpoint.
pub const HTTP_TRACES_PATH: &str = "/v1/traces";

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317 by convention).
    #[default]
    Grpc,
    /// OTLP over HTTP, protobuf bodies posted to `/v1/traces` (port 4318 by convention).
    HttpProtobuf,
}

impl Protocol {
    /// The spelling of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            other => Err(format!(
                "{other:?} is not a supported OTLP protocol (grpc or http/protobuf)"
            )),
        }
    }
}

/// Where and how to export spans. Validated by [`OtlpConfig::validate`] (and by
/// [`install`](crate::install)).
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// The collector: for gRPC its URL (`http://host:4317`), for HTTP/protobuf its base URL
    /// (`http://host:4318`, `/v1/traces` is appended unless already there).
    pub endpoint: String,
    /// gRPC or HTTP/protobuf.
    pub protocol: Protocol,
    /// Share of root spans sampled, 0 to 1; spans with a parent follow the parent's decision.
    pub sample_ratio: f64,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Longest wait for one export; past it the batch is lost (and counted).
    pub export_timeout: Duration,
    /// Spans queued for export at most; past it new spans are dropped, never waited for.
    pub max_queue_size: usize,
    /// How often queued spans are exported (a full batch goes at once).
    pub scheduled_delay: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:4317".to_owned(),
            protocol: Protocol::Grpc,
            sample_ratio: DEFAULT_SAMPLE_RATIO,
            service_name: "unknown_service".to_owned(),
            export_timeout: Duration::from_secs(5),
            max_queue_size: 2048,
            scheduled_delay: Duration::from_secs(1),
        }
    }
}

impl OtlpConfig {
    /// Checks the endpoint's scheme, the ratio and the service name.
    ///
    /// # Errors
    /// The first [`OtlpError`] found.
    pub fn validate(&self) -> Result<(), OtlpError> {
        let e = self.endpoint.trim();
        if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() <= "https://".len() {
            return Err(OtlpError::Endpoint(self.endpoint.clone()));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(OtlpError::SampleRatio(self.sample_ratio));
        }
        if self.service_name.trim().is_empty() {
            return Err(OtlpError::ServiceName);
        }
        Ok(())
    }

    /// The config a binary's tracing flags give: `None` (tracing off) when neither `endpoint`
    /// (its own flag or variable) nor [`OTEL_EXPORTER_OTLP_ENDPOINT`] names a collector; the
    /// export interval from [`OTEL_BSP_SCHEDULE_DELAY`]. Variables are read through `lookup`
    /// (the binary passes `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    /// The first [`OtlpError`] of [`OtlpConfig::validate`].
    pub fn from_flags(
        endpoint: Option<String>,
        protocol: Protocol,
        sample_ratio: f64,
        service_name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, OtlpError> {
        let Some(endpoint) = endpoint_or_standard(endpoint, &lookup) else {
            return Ok(None);
        };
        let defaults = Self::default();
        let config = Self {
            scheduled_delay: schedule_delay(lookup(OTEL_BSP_SCHEDULE_DELAY).as_deref())
                .unwrap_or(defaults.scheduled_delay),
            endpoint,
            protocol,
            sample_ratio,
            service_name: service_name.to_owned(),
            ..defaults
        };
        config.validate()?;
        Ok(Some(config))
    }

    /// The URL the exporter is given: the endpoint for gRPC; for HTTP/protobuf the endpoint with
    /// `/v1/traces` appended (as the standard variable means it), unless it already ends so.
    pub fn export_url(&self) -> String {
        let base = self.endpoint.trim();
        match self.protocol {
            Protocol::Grpc => base.to_owned(),
            Protocol::HttpProtobuf if base.ends_with(HTTP_TRACES_PATH) => base.to_owned(),
            Protocol::HttpProtobuf => {
                format!("{}{HTTP_TRACES_PATH}", base.trim_end_matches('/'))
            }
        }
    }
}

/// Parses a sample ratio: a number from 0 to 1 (for a `--trace-sample-ratio` value parser).
///
/// # Errors
/// A message saying what is wrong with `text`.
pub fn parse_sample_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number (a ratio from 0 to 1, e.g. 0.01)"))?;
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(format!("{ratio} is not a ratio from 0 to 1"))
    }
}

/// The endpoint a binary should export to: its own flag or variable (`own`), else the standard
/// [`OTEL_EXPORTER_OTLP_ENDPOINT`] read through `lookup` (the binary passes
/// `|k| std::env::var(k).ok()`). An empty value counts as unset; `None`: tracing is off.
pub fn endpoint_or_standard(
    own: Option<String>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    set(own).or_else(|| set(lookup(OTEL_EXPORTER_OTLP_ENDPOINT)))
}

/// The batch export interval a [`OTEL_BSP_SCHEDULE_DELAY`] value gives (whole ms, at least 1);
/// `None` for an absent or unreadable value (the default applies).
pub fn schedule_delay(value: Option<&str>) -> Option<Duration> {
    let ms: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_millis(ms.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_in_their_standard_spelling() {
        assert_eq!("grpc".parse::<Protocol>(), Ok(Protocol::Grpc));
        assert_eq!(
            "http/protobuf".parse::<Protocol>(),
            Ok(Protocol::HttpProtobuf)
        );
        for p in [Protocol::Grpc, Protocol::HttpProtobuf] {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
        }
        let e = "http/json".parse::<Protocol>().unwrap_err();
        assert!(e.contains("grpc or http/protobuf"), "{e}");
    }

    #[test]
    fn ratios_are_numbers_from_0_to_1() {
        assert_eq!(parse_sample_ratio("0.01"), Ok(0.01));
        assert_eq!(parse_sample_ratio("1"), Ok(1.0));
        assert_eq!(parse_sample_ratio("0"), Ok(0.0));
        for bad in ["1.5", "-0.1", "x", "", "NaN"] {
            assert!(parse_sample_ratio(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_give_a_config_only_with_a_collector_and_a_valid_one() {
        let none = |_: &str| None;
        let off = OtlpConfig::from_flags(None, Protocol::Grpc, 0.5, "svc", none).unwrap();
        assert_eq!(off, None);
        let env = |k: &str| match k {
            OTEL_EXPORTER_OTLP_ENDPOINT => Some("http://standard:4317".to_owned()),
            OTEL_BSP_SCHEDULE_DELAY => Some("250".to_owned()),
            _ => None,
        };
        let c = OtlpConfig::from_flags(None, Protocol::HttpProtobuf, 0.5, "svc", env)
            .unwrap()
            .unwrap();
        assert_eq!(c.endpoint, "http://standard:4317");
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.sample_ratio, 0.5);
        assert_eq!(c.service_name, "svc");
        assert_eq!(c.scheduled_delay, Duration::from_millis(250));
        let own = Some("http://own:4317".to_owned());
        let c = OtlpConfig::from_flags(own, Protocol::Grpc, 1.0, "svc", env).unwrap();
        assert_eq!(c.unwrap().endpoint, "http://own:4317");
        let bad = OtlpConfig::from_flags(Some("own:4317".into()), Protocol::Grpc, 1.0, "svc", none);
        assert!(
            matches!(&bad, Err(OtlpError::Endpoint(e)) if e == "own:4317"),
            "{bad:?}"
        );
    }

    #[test]
    fn the_own_endpoint_wins_over_the_standard_variable() {
        let env = |k: &str| (k == OTEL_EXPORTER_OTLP_ENDPOINT).then(|| "http://std:4317".into());
        let own = Some("http://own:4317".to_owned());
        assert_eq!(endpoint_or_standard(own, env).unwrap(), "http://own:4317");
        assert_eq!(endpoint_or_standard(None, env).unwrap(), "http://std:4317");
        assert_eq!(
            endpoint_or_standard(Some(String::new()), env).unwrap(),
            "http://std:4317"
        );
        assert_eq!(endpoint_or_standard(None, |_| None), None);
        assert_eq!(endpoint_or_standard(None, |_| Some(" ".into())), None);
    }

    #[test]
    fn the_schedule_delay_is_whole_milliseconds() {
        assert_eq!(
            schedule_delay(Some("250")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(schedule_delay(Some("0")), Some(Duration::from_millis(1)));
        assert_eq!(schedule_delay(Some("soon")), None);
        assert_eq!(schedule_delay(None), None);
    }

    #[test]
    fn http_appends_the_traces_path_once() {
        let http = |endpoint: &str| OtlpConfig {
            endpoint: endpoint.into(),
            protocol: Protocol::HttpProtobuf,
            ..OtlpConfig::default()
        };
        assert_eq!(
            http("http://c:4318").export_url(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            http("http://c:4318/").export_url(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            http("http://c:4318/v1/traces").export_url(),
            "http://c:4318/v1/traces"
        );
        let grpc = OtlpConfig {
            endpoint: "http://c:4317".into(),
            ..OtlpConfig::default()
        };
        assert_eq!(grpc.export_url(), "http://c:4317");
    }

    #[test]
    fn bad_configs_are_refused() {
        OtlpConfig::default().validate().unwrap();
        for bad in [
            OtlpConfig {
                endpoint: "localhost:4317".into(),
                ..OtlpConfig::default()
            },
            OtlpConfig {
                sample_ratio: 1.01,
                ..OtlpConfig::default()
            },
            OtlpConfig {
                service_name: " ".into(),
                ..OtlpConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
