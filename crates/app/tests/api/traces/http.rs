//! OTLP/HTTP, the default protocol: an axum server in the test takes the
//! binary's `POST`s, whatever their path, and decodes each protobuf body
//! as the collector would (`ExportTraceServiceRequest`, with `prost`).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode as HttpStatus, Uri, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::StatusCode;

use super::exported::{Export, Exported, Exports, hex, str_attr};
use crate::binary::{Binary, Stdout};
use crate::helpers::BlackHole;

const PROTOBUF: &str = "application/x-protobuf";

/// Serves on a free port; returns what it got and its base URL.
async fn start_receiver() -> (Exports, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let exports = Exports::default();
    let app = Router::new().fallback(receive).with_state(exports.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (exports, format!("http://{addr}"))
}

/// Keeps a well-formed export and answers as a collector does; refuses
/// anything else, so that the test sees nothing from it.
async fn receive(
    State(exports): State<Exports>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    if method != Method::POST || content_type != Some(PROTOBUF.as_bytes()) {
        return (HttpStatus::UNSUPPORTED_MEDIA_TYPE, Vec::new());
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (HttpStatus::BAD_REQUEST, Vec::new());
    };
    let headers = headers
        .iter()
        .map(|(k, v)| {
            let value = v.to_str().unwrap_or_default().to_owned();
            (k.as_str().to_owned(), value)
        })
        .collect();
    exports.push(Export {
        path: uri.path().to_owned(),
        headers,
        request,
    });
    let answer = ExportTraceServiceResponse {
        partial_success: None,
    };
    (HttpStatus::OK, answer.encode_to_vec())
}

/// The binary with `vars`, exiting as soon as it is signalled.
async fn traced(vars: &[(&str, &str)]) -> Binary {
    let mut all = vec![("SHUTDOWN_DELAY", "0s")];
    all.extend_from_slice(vars);
    Binary::start(&all, Stdout::Collect).await
}

#[tokio::test]
async fn spans_arrive_over_otlp_http_with_the_configured_resource_and_headers() {
    let (exports, base) = start_receiver().await;
    let mut binary = traced(&[
        // No protocol set: `http/protobuf` is the default.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret%3Dkey"),
        ("OTEL_SERVICE_NAME", "traced-http"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attributes,deployment.environment.name=test",
        ),
    ])
    .await;
    let id = binary.create_user("http-traced@example.com").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let response = binary
        .client
        .get(binary.url(&format!("/api/v1/users/{id}")))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Exit at once: the spans still queued are flushed on the way out.
    binary.signal("TERM");
    assert_eq!(binary.exit(Duration::from_secs(10)).await.code(), Some(0));

    let spans: Vec<Exported> = exports
        .spans()
        .into_iter()
        .filter(|e| hex(&e.span.trace_id) == trace_id)
        .collect();
    let server = spans
        .iter()
        .find(|e| e.span.name == "GET /api/v1/users/{id}")
        .unwrap_or_else(|| panic!("no server span in {:#?}", exports.spans()));
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&server.span.parent_span_id), parent_id);
    let children: Vec<_> = spans
        .iter()
        .filter(|e| e.span.parent_span_id == server.span.span_id)
        .map(|e| e.span.name.as_str())
        .collect();
    assert!(
        children.contains(&"db.users.find"),
        "children: {children:?}"
    );
    // OTEL_SERVICE_NAME wins over `service.name` in the attributes; the
    // other attributes are kept.
    assert_eq!(
        str_attr(&server.resource, "service.name"),
        Some("traced-http")
    );
    assert_eq!(
        str_attr(&server.resource, "deployment.environment.name"),
        Some("test")
    );
    assert!(str_attr(&server.resource, "service.version").is_some());

    // Every export went to the base URL + `/v1/traces`, as protobuf, with
    // the header's value percent-decoded.
    let all = exports.all();
    assert!(!all.is_empty());
    for export in &all {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.header("content-type"), Some(PROTOBUF));
        assert_eq!(export.header("api-key"), Some("s3cret=key"));
    }
    // The request's log line carries the same trace id; no line shows the
    // header's value.
    let line = binary
        .until_event("request finished", |e| e["trace_id"] == trace_id)
        .await;
    assert_eq!(line["http.route"], "/api/v1/users/{id}");
    assert!(binary.lines().iter().all(|l| !l.contains("s3cret")));
}

#[tokio::test]
async fn the_traces_endpoint_is_used_as_given_and_wins() {
    let (exports, base) = start_receiver().await;
    // Were the base endpoint used, nothing would arrive.
    let hole = BlackHole::start().await;
    let hole = format!("http://{}", hole.addr);
    let traces = format!("{base}/custom/traces");
    let binary = traced(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", hole.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
    ])
    .await;
    binary.create_user("override@example.com").await;
    exports.until_span("POST /api/v1/users", None).await;
    let paths: Vec<_> = exports.all().into_iter().map(|e| e.path).collect();
    assert!(paths.iter().all(|p| p == "/custom/traces"), "{paths:?}");
}

#[tokio::test]
async fn a_disabled_sdk_exports_nothing_and_logs_still_carry_trace_ids() {
    let (exports, base) = start_receiver().await;
    let mut binary = traced(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
        ("OTEL_SDK_DISABLED", "true"),
    ])
    .await;
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4736";
    let response = binary
        .client
        .get(binary.url("/api/v1/users"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    binary.create_user("disabled@example.com").await;

    // The caller's trace continues in the logs, with ids of this service's
    // own for requests that came without one.
    let line = binary
        .until_event("request finished", |e| e["trace_id"] == trace_id)
        .await;
    assert_eq!(line["span_id"].as_str().unwrap().len(), 16, "{line}");
    let created = binary
        .until_event("request finished", |e| e["http.request.method"] == "POST")
        .await;
    assert_eq!(created["trace_id"].as_str().unwrap().len(), 32, "{created}");

    // Everything that would have been exported is, by the end of the
    // flush at exit: nothing.
    binary.signal("TERM");
    assert_eq!(binary.exit(Duration::from_secs(10)).await.code(), Some(0));
    assert!(exports.all().is_empty(), "{:#?}", exports.spans());
}
