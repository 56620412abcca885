//! What the test receivers got: each export request as decoded from its
//! protobuf body, with the path and headers it came with, and helpers to
//! read spans and attributes out of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::StatusCode;

use crate::binary::Binary;

/// One export as received.
#[derive(Clone, Debug)]
pub struct Export {
    /// The HTTP path (the gRPC method's path for gRPC).
    pub path: String,
    /// Request headers (gRPC metadata), names lower-case.
    pub headers: Vec<(String, String)>,
    /// The export, if the body was one.
    pub request: Option<ExportTraceServiceRequest>,
}

impl Export {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A span with the resource it was exported under.
#[derive(Clone, Debug)]
pub struct Exported {
    pub resource: Vec<KeyValue>,
    pub span: Span,
}

/// Every export a receiver got, shared with its server task.
#[derive(Clone, Default)]
pub struct Exports(Arc<Mutex<Vec<Export>>>);

impl Exports {
    pub fn push(&self, export: Export) {
        self.0.lock().unwrap().push(export);
    }

    pub fn all(&self) -> Vec<Export> {
        self.0.lock().unwrap().clone()
    }

    pub fn spans(&self) -> Vec<Exported> {
        self.all()
            .into_iter()
            .filter_map(|export| export.request)
            .flat_map(|request| request.resource_spans)
            .flat_map(|resource_spans| {
                let resource = resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default();
                resource_spans
                    .scope_spans
                    .into_iter()
                    .flat_map(|scope| scope.spans)
                    .map(move |span| Exported {
                        resource: resource.clone(),
                        span,
                    })
            })
            .collect()
    }

    /// Polls until a span named `name` in the trace `trace_id` (any trace
    /// when `None`) has arrived, failing after 15 s.
    pub async fn until_span(&self, name: &str, trace_id: Option<&str>) -> Exported {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.spans().into_iter().find(|e| {
                e.span.name == name && trace_id.is_none_or(|id| hex(&e.span.trace_id) == id)
            });
            if let Some(found) = found {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no `{name}` span among {:#?}",
                self.spans()
                    .iter()
                    .map(|e| e.span.name.as_str())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An attribute's value, if the list has it.
pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

/// A string attribute; `None` when missing, a panic when of another type.
pub fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attr(attributes, key).map(|v| match v {
        Value::StringValue(s) => s.as_str(),
        other => panic!("`{key}` is not a string: {other:?}"),
    })
}

/// An integer attribute; `None` when missing, a panic when of another type.
pub fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    attr(attributes, key).map(|v| match v {
        Value::IntValue(i) => *i,
        other => panic!("`{key}` is not an integer: {other:?}"),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lists the outbox (`GET /admin/outbox` on the admin listener, a route
/// every project has that reads the database) under a `traceparent` of
/// `trace_id` and `parent_id`, stops `binary` at once (the spans still queued must be flushed on the
/// way out, exit code 0), and returns the server span of that request,
/// checked to continue the caller's trace as a server span, with the names
/// of its children.
pub async fn read_traced_and_exit(
    binary: &mut Binary,
    exports: &Exports,
    trace_id: &str,
    parent_id: &str,
) -> (Exported, Vec<String>) {
    let response = binary
        .client
        .get(binary.admin_url("/admin/outbox"))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    binary.signal("TERM");
    assert_eq!(binary.exit(Duration::from_secs(10)).await.code(), Some(0));

    let spans: Vec<Exported> = exports
        .spans()
        .into_iter()
        .filter(|e| hex(&e.span.trace_id) == trace_id)
        .collect();
    let server = spans
        .iter()
        .find(|e| e.span.name == "GET /admin/outbox")
        .unwrap_or_else(|| panic!("no server span in {:#?}", exports.spans()))
        .clone();
    assert_eq!(hex(&server.span.parent_span_id), parent_id);
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    let children = spans
        .iter()
        .filter(|e| e.span.parent_span_id == server.span.span_id)
        .map(|e| e.span.name.clone())
        .collect();
    (server, children)
}
