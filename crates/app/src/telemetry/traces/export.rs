//! The OTLP span exporter the settings ask for.
//!
//! - `http/protobuf` (the specification's default): protobuf bodies POSTed
//!   to `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, through
//!   [`super::http::OtlpHttpClient`].
//! - `grpc`: the collector's TraceService through tonic, at
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` as given.
//!
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, when set, is used as given with
//! either protocol and wins. `OTEL_EXPORTER_OTLP_HEADERS` go with every
//! export, as HTTP headers or gRPC metadata, marked sensitive so that no
//! `Debug` output shows them.

use anyhow::Context as _;
use config::{OtlpProtocol, TracingSettings};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};

use super::http::OtlpHttpClient;

/// The exporter for `settings`; `None` when no endpoint is set.
///
/// # Errors
/// When a header cannot be sent, or the exporter cannot be built from the
/// endpoint.
pub(super) fn exporter(settings: &TracingSettings) -> anyhow::Result<Option<SpanExporter>> {
    let Some(endpoint) = endpoint(settings) else {
        return Ok(None);
    };
    let headers = headers(&settings.headers)?;
    let exporter = match settings.protocol {
        OtlpProtocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(settings.export_timeout)
            .with_metadata(MetadataMap::from_headers(headers))
            .build(),
        OtlpProtocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(settings.export_timeout)
            .with_http_client(OtlpHttpClient::start(headers, settings.export_timeout)?)
            .build(),
    };
    exporter
        .map(Some)
        .context("building the OTLP span exporter")
}

/// Where spans are sent, as the specification resolves it: the traces
/// endpoint as given; otherwise the base endpoint, as given for gRPC and
/// with the signal's path appended for HTTP.
fn endpoint(settings: &TracingSettings) -> Option<String> {
    if let Some(traces) = &settings.traces_endpoint {
        return Some(traces.clone());
    }
    let base = settings.endpoint.as_deref()?;
    Some(match settings.protocol {
        OtlpProtocol::Grpc => base.to_owned(),
        OtlpProtocol::HttpProtobuf => traces_url(base),
    })
}

/// `http://collector:4318` → `http://collector:4318/v1/traces`, and a
/// base with a path keeps it (`http://gw/otlp/` → `http://gw/otlp/v1/traces`).
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// The configured headers, their values marked sensitive. No message quotes
/// a value: they are credentials.
fn headers(pairs: &[(String, SecretString)]) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            anyhow::anyhow!("OTEL_EXPORTER_OTLP_HEADERS: `{name}` is not a header name")
        })?;
        let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
            anyhow::anyhow!("OTEL_EXPORTER_OTLP_HEADERS: the value of `{name}` cannot be sent")
        })?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use config::Sampler;

    use super::*;

    fn settings(
        protocol: OtlpProtocol,
        endpoint: Option<&str>,
        traces: Option<&str>,
    ) -> TracingSettings {
        TracingSettings {
            endpoint: endpoint.map(str::to_owned),
            export_timeout: Duration::from_secs(1),
            service_name: "test".to_owned(),
            sampler: Sampler {
                parent_based: true,
                ratio: 1.0,
            },
            resource_attributes: Vec::new(),
            protocol,
            traces_endpoint: traces.map(str::to_owned),
            headers: Vec::new(),
            sdk_disabled: false,
        }
    }

    #[test]
    fn http_appends_the_signal_path_and_grpc_uses_the_endpoint_as_given() {
        let http = OtlpProtocol::HttpProtobuf;
        let grpc = OtlpProtocol::Grpc;
        let base = Some("http://collector:4318");
        assert_eq!(
            endpoint(&settings(http, base, None)).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            endpoint(&settings(http, Some("http://gw/otlp/"), None)).as_deref(),
            Some("http://gw/otlp/v1/traces")
        );
        assert_eq!(
            endpoint(&settings(grpc, Some("http://collector:4317"), None)).as_deref(),
            Some("http://collector:4317")
        );
        assert_eq!(endpoint(&settings(http, None, None)), None);
    }

    #[test]
    fn the_traces_endpoint_is_used_as_given_and_wins() {
        for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc] {
            for base in [None, Some("http://collector:4318")] {
                assert_eq!(
                    endpoint(&settings(protocol, base, Some("http://x:1/custom"))).as_deref(),
                    Some("http://x:1/custom")
                );
            }
        }
    }

    #[test]
    fn header_values_are_sensitive_and_never_quoted() {
        let pairs = [("api-key".to_owned(), SecretString::from("hunter2"))];
        let map = headers(&pairs).unwrap();
        assert!(map["api-key"].is_sensitive());
        assert!(!format!("{map:?}").contains("hunter2"));
        let bad = [("api-key".to_owned(), SecretString::from("hunter2\n"))];
        let err = headers(&bad).unwrap_err().to_string();
        assert!(err.contains("api-key") && !err.contains("hunter2"), "{err}");
    }
}
