//! The baseline `make bench` compares the service against: axum with one
//! route answering what `/healthz` answers, and nothing else. Listens on
//! `BARE_ADDR` (default `127.0.0.1:8081`).

use axum::Json;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("BARE_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let app = axum::Router::new().route("/healthz", get(|| async { Json(serde_json_status()) }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// The same body as the service's liveness probe.
fn serde_json_status() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([("status", "ok")])
}
