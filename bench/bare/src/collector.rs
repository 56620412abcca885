//! A local OTLP/HTTP trace receiver: accepts every `POST /v1/traces` with
//! an empty `ExportTraceServiceResponse` (a zero-length protobuf message),
//! and counts what it received at `GET /stats` (`{"requests":…,"bytes":…}`),
//! so the bench can show that spans were exported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};

#[derive(Default)]
struct Received {
    requests: AtomicU64,
    bytes: AtomicU64,
}

pub(crate) async fn serve(addr: &str) -> Result<(), crate::Failure> {
    let received = Arc::new(Received::default());
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .route("/stats", get(stats))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn export(State(received): State<Arc<Received>>, body: Bytes) -> impl IntoResponse {
    received.requests.fetch_add(1, Ordering::Relaxed);
    received
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    ([(CONTENT_TYPE, "application/x-protobuf")], Bytes::new())
}

async fn stats(State(received): State<Arc<Received>>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "requests": received.requests.load(Ordering::Relaxed),
        "bytes": received.bytes.load(Ordering::Relaxed),
    }))
}
