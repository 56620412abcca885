//! `/healthz`, `/startupz` and `/readyz` on the public listener.
//!
//! They read state that the background checks keep (`service::health`), so
//! a probe costs nothing and a flood of probes never reaches a dependency.
//! They bypass load shedding and the request deadline.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use service::health::Health;

use crate::state::AppState;

/// The probe routes.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/startupz", get(startupz))
        .route("/readyz", get(readyz))
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// Liveness: the process can serve. Checks no dependency, so a database
/// outage never gets pods restarted.
async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// `503` until start-up has finished, then `200`.
async fn startupz(State(health): State<Arc<Health>>) -> Response {
    if health.is_started() {
        (StatusCode::OK, Json(Status { status: "started" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Status { status: "starting" }),
        )
            .into_response()
    }
}

#[derive(Serialize)]
struct Dependency {
    status: &'static str,
    required: bool,
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    started: bool,
    shutting_down: bool,
    dependencies: BTreeMap<&'static str, Dependency>,
    /// Each circuit breaker's state: `closed`, `half_open` or `open`.
    breakers: BTreeMap<&'static str, &'static str>,
}

/// `200` when started, not shutting down, and every required dependency
/// answered its recent checks (`degraded` when only the cache is down or a
/// circuit breaker is not closed); `503` otherwise. The body shows each
/// dependency and breaker.
async fn readyz(State(health): State<Arc<Health>>) -> Response {
    let readiness = health.readiness();
    let status = if readiness.status.accepts_traffic() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: readiness.status.as_str(),
        started: readiness.started,
        shutting_down: readiness.shutting_down,
        dependencies: readiness
            .dependencies
            .into_iter()
            .map(|(name, state, required)| {
                (
                    name,
                    Dependency {
                        status: state.as_str(),
                        required,
                    },
                )
            })
            .collect(),
        breakers: readiness
            .breakers
            .into_iter()
            .map(|(name, state)| (name, state.as_str()))
            .collect(),
    };
    (status, Json(body)).into_response()
}
