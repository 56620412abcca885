//! The admin listener's routes: `/metrics`, `/debug/log-level` to read and
//! change the log filter at runtime, and `/admin/outbox` to list events and
//! re-drive dead ones.
//!
//! The admin listener is never exposed by the public Kubernetes Service.
//! When a token is configured, every admin route but `/metrics` requires
//! `Authorization: Bearer <token>`, compared in constant time.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use service::outbox::{EventId, EventStatus, OutboxEvent, OutboxStore};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Path, Query, Text};
use crate::problem::FieldError;

/// Reads and replaces the log filter; implemented by the binary over its
/// subscriber's reload handle.
pub trait LogLevel: Send + Sync + 'static {
    /// The current filter directive, e.g. `info,service=debug`.
    fn current(&self) -> String;

    /// Applies `directive` at once.
    ///
    /// # Errors
    /// Why the directive is invalid; the old filter stays.
    fn set(&self, directive: &str) -> Result<(), String>;
}

/// Renders the metrics in the Prometheus text format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// What the admin routes need.
#[derive(Clone)]
pub struct AdminState {
    /// The outbox, for listing and re-driving events.
    pub outbox: Arc<dyn OutboxStore>,
    /// Renders `/metrics`.
    pub metrics: RenderMetrics,
    /// The log filter.
    pub log_level: Arc<dyn LogLevel>,
    /// The bearer token guarding routes other than `/metrics`.
    pub token: Option<SecretString>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("token", &self.token.as_ref().map(|_| "[set]"))
            .finish_non_exhaustive()
    }
}

/// Largest log directive accepted by `PUT /debug/log-level`.
const MAX_DIRECTIVE_BYTES: usize = 4096;

/// The admin routes, without the shared middleware (see `router::admin`).
pub(crate) fn routes(state: AdminState) -> Router {
    let guarded = Router::new()
        .route("/debug/log-level", get(get_log_level).put(put_log_level))
        .route("/admin/outbox", get(list_outbox))
        .route("/admin/outbox/{id}/retry", post(retry_outbox))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/metrics", get(metrics))
        .merge(guarded)
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (state.metrics)(),
    )
        .into_response()
}

async fn get_log_level(State(state): State<AdminState>) -> String {
    state.log_level.current() + "\n"
}

async fn put_log_level(
    State(state): State<AdminState>,
    Text(body): Text,
) -> Result<String, ApiError> {
    let directive = body.trim();
    if directive.is_empty() || directive.len() > MAX_DIRECTIVE_BYTES {
        return Err(ApiError::BadRequest {
            detail: format!(
                "send a tracing filter directive of 1 to {MAX_DIRECTIVE_BYTES} bytes, e.g. `info,service=debug`"
            ),
            errors: Vec::new(),
        });
    }
    state
        .log_level
        .set(directive)
        .map_err(|err| ApiError::BadRequest {
            detail: format!(
                "`{directive}` is not a valid filter directive: {err}; the level is unchanged"
            ),
            errors: Vec::new(),
        })?;
    tracing::warn!(directive, "log level changed at runtime");
    Ok(state.log_level.current() + "\n")
}

/// Rejects requests without the configured bearer token with `401`.
async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    match &state.token {
        Some(token) if !bearer_matches(request.headers(), token) => {
            ApiError::Unauthorized.into_response()
        }
        _ => next.run(request).await,
    }
}

fn bearer_matches(headers: &HeaderMap, token: &SecretString) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Constant time in the token's content; only the lengths may differ
    // observably, which says nothing about the token itself.
    bool::from(presented.as_bytes().ct_eq(token.expose_secret().as_bytes()))
}

#[derive(Debug, Deserialize)]
struct OutboxQuery {
    status: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
struct OutboxEventBody {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: &'static str,
    aggregate_id: Uuid,
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<OutboxEvent> for OutboxEventBody {
    fn from(e: OutboxEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            event_type: e.event_type.as_str(),
            aggregate_id: e.aggregate_id,
            status: e.status.as_str(),
            attempts: e.attempts,
            last_error: e.last_error,
            next_attempt_at: e.next_attempt_at,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct OutboxList {
    items: Vec<OutboxEventBody>,
}

/// `GET /admin/outbox?status=dead&limit=50`: events, newest first.
async fn list_outbox(
    State(state): State<AdminState>,
    Query(query): Query<OutboxQuery>,
) -> Result<axum::Json<OutboxList>, ApiError> {
    let mut errors = Vec::new();
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => EventStatus::parse(raw).or_else(|| {
            errors.push(FieldError::new(
                "status",
                "must be one of pending, delivered, dead, skipped",
            ));
            None
        }),
    };
    let limit = match query.limit.as_deref().map(str::parse::<u32>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                "must be a whole number from 1 to 1000",
            ));
            100
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::BadRequest {
            detail: "invalid query parameters; see `errors`".to_owned(),
            errors,
        });
    }
    let events = state
        .outbox
        .list(status, limit)
        .await
        .map_err(|err| ApiError::Internal(err.into()))?;
    Ok(axum::Json(OutboxList {
        items: events.into_iter().map(OutboxEventBody::from).collect(),
    }))
}

#[derive(Debug, Serialize)]
struct Redriven {
    id: Uuid,
    status: &'static str,
}

/// `POST /admin/outbox/{id}/retry`: a dead event back to pending.
async fn retry_outbox(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Redriven>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::BadRequest {
        detail: format!("`{id}` is not an event id"),
        errors: vec![FieldError::new("id", "must be a UUID")],
    })?;
    let found = state
        .outbox
        .redrive(EventId::from_uuid(id))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?;
    if !found {
        return Err(ApiError::NotFound(
            "no dead outbox event has this id".to_owned(),
        ));
    }
    tracing::warn!(event_id = %id, "dead outbox event re-driven");
    Ok(axum::Json(Redriven {
        id,
        status: EventStatus::Pending.as_str(),
    }))
}
