//! OTLP/HTTP, the default protocol: an axum server in the test takes the
//! binary's `POST`s, whatever their path, and decodes each protobuf body
//! as the collector would (`ExportTraceServiceRequest`, with `prost`).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode as HttpStatus, Uri, header};
use axum::response::{IntoResponse as _, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as SpanStatus;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::Value;

use super::exported::{Export, Exported, Exports, hex, int_attr, read_traced_and_exit, str_attr};
use crate::binary::{Binary, Stdout};
use crate::helpers::{BlackHole, lock_outbox};

const PROTOBUF: &str = "application/x-protobuf";

/// Serves on a free port; returns what it got and its base URL.
pub async fn start_receiver() -> (Exports, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let exports = Exports::default();
    let app = Router::new().fallback(receive).with_state(exports.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (exports, format!("http://{addr}"))
}

/// Keeps every request, decoded when it is a protobuf export, and answers
/// as a collector does: `200` with an `ExportTraceServiceResponse`, `400`
/// for anything else.
async fn receive(
    State(exports): State<Exports>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let protobuf =
        headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()) == Some(PROTOBUF.as_bytes());
    let request = (method == Method::POST && protobuf)
        .then(|| ExportTraceServiceRequest::decode(body).ok())
        .flatten();
    let decoded = request.is_some();
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
    if !decoded {
        return HttpStatus::BAD_REQUEST.into_response();
    }
    let answer = ExportTraceServiceResponse {
        partial_success: None,
    };
    ([(header::CONTENT_TYPE, PROTOBUF)], answer.encode_to_vec()).into_response()
}

/// The binary with `vars`, exiting as soon as it is signalled.
pub async fn traced(vars: &[(&str, &str)]) -> Binary {
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
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (server, children) =
        read_traced_and_exit(&mut binary, &exports, trace_id, "00f067aa0ba902b7").await;
    assert!(
        children.iter().any(|name| name == "db.outbox.list"),
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
        assert!(export.request.is_some(), "not a protobuf export");
        assert_eq!(export.header("api-key"), Some("s3cret=key"));
    }
    // The request's log line carries the same trace id; no line shows the
    // header's value.
    let line = binary
        .until_event("request finished", |e| e["trace_id"] == trace_id)
        .await;
    assert_eq!(line["http.route"], "/admin/outbox");
    assert!(binary.lines().iter().all(|l| !l.contains("s3cret")));
}

/// The `request finished` log line whose span is `span`.
fn log_line(binary: &Binary, span: &Exported) -> Value {
    let span_id = hex(&span.span.span_id);
    binary
        .events("request finished")
        .into_iter()
        .find(|e| e["span_id"] == span_id.as_str())
        .unwrap_or_else(|| panic!("no log line for span {span_id}"))
}

/// Keys only the OpenTelemetry span may carry.
fn assert_trace_only_keys_absent(line: &Value) {
    for key in line.as_object().unwrap().keys() {
        assert!(
            !key.starts_with("otel.")
                && !["url.scheme", "http.request.method_original", "error.type"]
                    .contains(&key.as_str()),
            "`{key}` reached the log: {line}"
        );
    }
}

#[tokio::test]
async fn server_spans_follow_the_http_semantic_conventions() {
    let (exports, base) = start_receiver().await;
    let binary = traced(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
        ("REQUEST_TIMEOUT", "3s"),
        ("DATABASE_STATEMENT_TIMEOUT", "300ms"),
        ("DATABASE_ACQUIRE_TIMEOUT", "500ms"),
    ])
    .await;
    let redriven = binary
        .client
        .post(binary.admin_url("/admin/outbox/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(redriven.status(), StatusCode::OK);
    let unknown = binary
        .client
        .get(binary.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let purge = binary
        .client
        .request(
            Method::from_bytes(b"PURGE").unwrap(),
            binary.url("/openapi.json"),
        )
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A table lock the listing waits on past the statement timeout: a 5xx.
    let lock = lock_outbox(&binary.db).await;
    let failed = binary
        .client
        .get(binary.admin_url("/admin/outbox"))
        .send()
        .await
        .unwrap();
    lock.rollback().await.unwrap();
    assert!(failed.status().is_server_error(), "{}", failed.status());

    // A matched route: `METHOD route`, every attribute set, status unset.
    let created = exports.until_span("POST /admin/outbox/redrive", None).await;
    let attrs = &created.span.attributes;
    assert_eq!(created.span.kind, SpanKind::Server as i32);
    assert_eq!(str_attr(attrs, "http.request.method"), Some("POST"));
    assert_eq!(str_attr(attrs, "http.route"), Some("/admin/outbox/redrive"));
    assert_eq!(str_attr(attrs, "url.path"), Some("/admin/outbox/redrive"));
    assert_eq!(str_attr(attrs, "url.scheme"), Some("http"));
    assert_eq!(int_attr(attrs, "http.response.status_code"), Some(200));
    assert_eq!(str_attr(attrs, "http.request.method_original"), None);
    assert_eq!(str_attr(attrs, "error.type"), None);
    assert!(
        attrs.iter().all(|kv| !kv.key.starts_with("otel.")),
        "{attrs:#?}"
    );
    assert_eq!(
        created.span.status.as_ref().map_or(0, |s| s.code),
        SpanStatus::Unset as i32
    );

    // No route matched: the method alone, and no `http.route`; a 404 is
    // not an error of the server.
    let unmatched = exports.until_span("GET", None).await;
    let attrs = &unmatched.span.attributes;
    assert_eq!(str_attr(attrs, "http.route"), None);
    assert_eq!(str_attr(attrs, "url.path"), Some("/no/such/path"));
    assert_eq!(int_attr(attrs, "http.response.status_code"), Some(404));
    assert_eq!(
        unmatched.span.status.as_ref().map_or(0, |s| s.code),
        SpanStatus::Unset as i32
    );

    // A method the conventions do not know: `_OTHER`, the original kept,
    // and `HTTP` in the name; the scheme a proxy reported.
    let other = exports.until_span("HTTP /openapi.json", None).await;
    let attrs = &other.span.attributes;
    assert_eq!(str_attr(attrs, "http.request.method"), Some("_OTHER"));
    assert_eq!(
        str_attr(attrs, "http.request.method_original"),
        Some("PURGE")
    );
    assert_eq!(str_attr(attrs, "url.scheme"), Some("https"));
    assert_eq!(int_attr(attrs, "http.response.status_code"), Some(405));

    // A 5xx: error status, and `error.type` is the status code.
    let error = exports.until_span("GET /admin/outbox", None).await;
    let status = failed.status().as_u16();
    let attrs = &error.span.attributes;
    assert_eq!(
        int_attr(attrs, "http.response.status_code"),
        Some(i64::from(status))
    );
    assert_eq!(
        str_attr(attrs, "error.type"),
        Some(status.to_string().as_str())
    );
    assert_eq!(
        error.span.status.as_ref().map(|s| s.code),
        Some(SpanStatus::Error as i32)
    );

    // The log lines keep their keys: the conventions' names for the facts
    // they share with the span, nothing only a trace needs.
    let line = log_line(&binary, &other);
    assert_eq!(line["http.request.method"], "_OTHER");
    assert_eq!(line["http.route"], "/openapi.json");
    let line = log_line(&binary, &unmatched);
    assert_eq!(line["url.path"], "/no/such/path");
    assert!(line.get("http.route").is_none(), "{line}");
    for span in [&created, &unmatched, &other, &error] {
        assert_trace_only_keys_absent(&log_line(&binary, span));
    }
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
    let redriven = binary
        .client
        .post(binary.admin_url("/admin/outbox/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(redriven.status(), StatusCode::OK);
    exports.until_span("POST /admin/outbox/redrive", None).await;
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
        .get(binary.url("/openapi.json"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let redriven = binary
        .client
        .post(binary.admin_url("/admin/outbox/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(redriven.status(), StatusCode::OK);

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
