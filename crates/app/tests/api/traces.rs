//! OpenTelemetry traces from the real binary to real OTLP receivers
//! started inside the test, both decoding the official protobuf messages:
//! the collector's TraceService over gRPC (here) and `POST /v1/traces`
//! over HTTP ([`http`], the default protocol). [`exported`] reads what
//! they got.

pub mod exported;
pub mod http;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use self::exported::{Export, Exports, read_traced_and_exit, str_attr};
use crate::binary::{Binary, Stdout};
use crate::helpers::{BlackHole, metric_value, scrape, slowest_get};

/// The collector's gRPC TraceService, keeping what it is sent.
#[derive(Clone, Default)]
struct GrpcReceiver {
    exports: Exports,
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                let value = v.to_str().unwrap_or_default().to_owned();
                (k.as_str().to_owned(), value)
            })
            .collect();
        self.exports.push(Export {
            path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export".to_owned(),
            headers,
            request: Some(request.into_inner()),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl GrpcReceiver {
    /// Serves on a free port; returns what it got and its endpoint.
    async fn start() -> (Exports, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let receiver = Self::default();
        let exports = receiver.exports.clone();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(receiver))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (exports, format!("http://{addr}"))
    }
}

#[tokio::test]
async fn a_traceparent_becomes_the_parent_and_spans_are_flushed_at_exit() {
    let (exports, endpoint) = GrpcReceiver::start().await;
    let mut binary = Binary::start(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=grpc%20secret"),
            ("OTEL_SERVICE_NAME", "traced-grpc"),
            ("SHUTDOWN_DELAY", "0s"),
        ],
        Stdout::Collect,
    )
    .await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let (server, children) =
        read_traced_and_exit(&mut binary, &exports, trace_id, "b7ad6b7169203331").await;
    assert_eq!(
        str_attr(&server.resource, "service.name"),
        Some("traced-grpc")
    );
    assert_eq!(
        str_attr(&server.span.attributes, "http.route"),
        Some("/admin/outbox")
    );
    assert!(
        children.iter().any(|name| name == "db.outbox.list"),
        "children: {children:?}"
    );
    // The configured header went with every export, as gRPC metadata.
    let all = exports.all();
    assert!(!all.is_empty());
    for export in &all {
        assert_eq!(export.header("api-key"), Some("grpc secret"));
    }
    // The log line of the request carries the same trace id, and no line
    // shows the header's value.
    let line = binary
        .until_event("request finished", |e| e["trace_id"] == trace_id)
        .await;
    assert_eq!(line["http.route"], "/admin/outbox");
    assert!(binary.lines().iter().all(|l| !l.contains("grpc secret")));
}

/// A collector that accepts connections and never answers: requests stay
/// fast, the failed exports are counted, and the exit is not held up.
async fn a_black_holed_collector_never_slows_requests(protocol: &str) {
    let hole = BlackHole::start().await;
    let endpoint = format!("http://{}", hole.addr);
    let mut binary = Binary::start(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
            ("SHUTDOWN_DELAY", "0s"),
        ],
        Stdout::Collect,
    )
    .await;
    let slowest = slowest_get(&binary.client, &binary.url("/openapi.json"), 200).await;
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

#[tokio::test]
async fn a_black_holed_grpc_collector_never_slows_requests() {
    a_black_holed_collector_never_slows_requests("grpc").await;
}

#[tokio::test]
async fn a_black_holed_http_collector_never_slows_requests() {
    a_black_holed_collector_never_slows_requests("http/protobuf").await;
}
