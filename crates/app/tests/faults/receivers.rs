//! Real servers for the service's outbound calls: a webhook receiver whose
//! behaviour a scenario switches, recording every request, and an
//! OTLP/gRPC trace collector (the collector's own `TraceService` from the
//! protobuf definitions) counting the spans it receives.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// The webhook signing secret the scenarios configure.
pub const WEBHOOK_SECRET: &str = "whsec_ZmF1bHRzLXN1aXRlLXNpZ25pbmctc2VjcmV0";

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `204` after `delay`: delivered.
    Accept { delay: Duration },
    /// `204` only after `delay`, longer than the sender waits: it has given
    /// up by then, so this never counts as delivered.
    Slow { delay: Duration },
    /// This status at once (a 4xx the sender must not retry).
    Reject(u16),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The `webhook-id` header: the event's id.
    pub id: String,
    /// The last path segment (which replica sent it, when each has its
    /// own URL).
    pub from: String,
    /// How it was answered.
    pub answer: Answer,
}

impl Receipt {
    /// Whether the sender was told the event arrived.
    pub const fn delivered(&self) -> bool {
        matches!(self.answer, Answer::Accept { .. })
    }
}

#[derive(Debug)]
struct Inner {
    answer: Answer,
    receipts: Vec<Receipt>,
}

/// A webhook receiver on a loopback port; `POST /hook/{from}`.
#[derive(Debug)]
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(from): Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let answer = {
        let mut inner = inner.lock().unwrap();
        let answer = inner.answer;
        inner.receipts.push(Receipt { id, from, answer });
        answer
    };
    match answer {
        Answer::Accept { delay } | Answer::Slow { delay } => {
            tokio::time::sleep(delay).await;
            StatusCode::NO_CONTENT
        }
        Answer::Reject(status) => {
            StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

impl WebhookReceiver {
    /// Starts a receiver answering `answer`.
    pub async fn start(answer: Answer) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            answer,
            receipts: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/hook/{from}", axum::routing::post(receive))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner, task }
    }

    /// Answers `answer` from now on.
    pub fn answer(&self, answer: Answer) {
        self.inner.lock().unwrap().answer = answer;
    }

    /// Every request so far.
    pub fn receipts(&self) -> Vec<Receipt> {
        self.inner.lock().unwrap().receipts.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An OTLP/gRPC trace collector on a loopback port.
#[derive(Debug)]
pub struct Collector {
    pub addr: SocketAddr,
    spans: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
struct Counting(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Counting {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0
            .fetch_add(u64::try_from(spans).unwrap_or(u64::MAX), Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(AtomicU64::new(0));
        let service = TraceServiceServer::new(Counting(Arc::clone(&spans)));
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        Self { addr, spans, task }
    }

    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
