//! The admin listener's routes: `/metrics`, `/debug/log-level` to read and
//! change the log filter at runtime, and `/admin/outbox` to list events and
//! re-drive dead ones ([`outbox`]).
//!
//! The admin listener is never exposed by the public Kubernetes Service.
//! When a token is configured, every admin route but `/metrics` requires
//! `Authorization: Bearer <token>`, compared in constant time.

mod outbox;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret as _, SecretString};
use service::outbox::OutboxStore;
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::extract::Text;

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
        .route("/admin/outbox", get(outbox::list))
        .route("/admin/outbox/redrive", post(outbox::redrive_matching))
        .route("/admin/outbox/{id}/retry", post(outbox::retry))
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
