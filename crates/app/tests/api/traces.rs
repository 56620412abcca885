//! OpenTelemetry traces from the real binary to a real OTLP/gRPC receiver
//! (the collector's TraceService from the official protobuf definitions),
//! started inside the test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::StatusCode;

use crate::binary::{Binary, Stdout};
use crate::helpers::{BlackHole, metric_value, scrape, slowest_get};

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Receiver {
    async fn start() -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Self::default();
        let service = TraceServiceServer::new(receiver.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (receiver, format!("http://{addr}"))
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_traceparent_becomes_the_parent_and_spans_are_flushed_at_exit() {
    let (receiver, endpoint) = Receiver::start().await;
    let mut binary = Binary::start(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "traced-users"),
            ("SHUTDOWN_DELAY", "0s"),
        ],
        Stdout::Collect,
    )
    .await;
    let id = binary.create_user("traced@example.com").await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let parent_id = "b7ad6b7169203331";
    let response = binary
        .client
        .get(binary.url(&format!("/api/v1/users/{id}")))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Exit at once: the spans still queued must be flushed on the way out.
    binary.signal("TERM");
    assert_eq!(binary.exit(Duration::from_secs(10)).await.code(), Some(0));

    let spans: Vec<_> = receiver
        .spans()
        .into_iter()
        .filter(|(_, s)| hex(&s.trace_id) == trace_id)
        .collect();
    let (service, server) = spans
        .iter()
        .find(|(_, s)| s.name == "GET /api/v1/users/{id}")
        .unwrap_or_else(|| panic!("no server span in {:#?}", receiver.spans()));
    assert_eq!(service, "traced-users");
    assert_eq!(hex(&server.parent_span_id), parent_id);
    assert_eq!(server.kind, SpanKind::Server as i32);
    let children: Vec<_> = spans
        .iter()
        .filter(|(_, s)| s.parent_span_id == server.span_id)
        .map(|(_, s)| s.name.as_str())
        .collect();
    assert!(
        children.contains(&"db.users.find"),
        "children: {children:?}"
    );
    // The log line of the request carries the same trace id.
    let line = binary
        .until_event("request finished", |e| e["trace_id"] == trace_id)
        .await;
    assert_eq!(line["http.route"], "/api/v1/users/{id}");
}

#[tokio::test]
async fn a_black_holed_collector_never_slows_requests() {
    let hole = BlackHole::start().await;
    let endpoint = format!("http://{}", hole.addr);
    let mut binary = Binary::start(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
            ("SHUTDOWN_DELAY", "0s"),
        ],
        Stdout::Collect,
    )
    .await;
    let slowest = slowest_get(&binary.client, &binary.url("/api/v1/users"), 200).await;
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request took {slowest:?}"
    );

    // The failed exports are counted.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = scrape(&binary.client, &binary.admin_url("")).await;
        let failed = metric_value(
            &metrics,
            r#"otel_spans_dropped_total{reason="export_failed"}"#,
        )
        .unwrap_or(0.0);
        if failed > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed export counted:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // And the exit is not held up by the collector either.
    let signalled = Instant::now();
    binary.signal("TERM");
    assert_eq!(binary.exit(Duration::from_secs(10)).await.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(6),
        "exit took {:?}",
        signalled.elapsed()
    );
}
