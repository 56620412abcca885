//! [`ApiError`]: the one error type handlers return, and its mapping to
//! statuses and problem bodies.

use std::any::Any;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use service::auth::TokenError;
use service::store::StoreError;

use crate::problem::{Cause, FieldError, Problem};

/// Seconds a client is asked to wait after a `503`.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400`: malformed request (JSON syntax, path or query parameters).
    #[error("bad request: {detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// The parameters at fault.
        errors: Vec<FieldError>,
    },
    /// `401` with `WWW-Authenticate: Bearer`: an admin route without the
    /// right token.
    #[error("unauthorized")]
    Unauthorized,
    /// `401` with `WWW-Authenticate: Bearer`: an API request without a
    /// bearer token (RFC 6750 §3.1: no error code when the request holds no
    /// credentials at all).
    #[error("no bearer token")]
    MissingToken,
    /// `401` with `WWW-Authenticate: Bearer error="invalid_token"`: the
    /// bearer token was refused; the detail says which rule it broke.
    #[error("invalid bearer token: {0}")]
    InvalidToken(TokenError),
    /// `403` with `WWW-Authenticate: Bearer error="insufficient_scope"`: a
    /// valid token without the scope the operation needs (named).
    #[error("insufficient scope: the operation needs {0}")]
    InsufficientScope(&'static str),
    /// `503` with `Retry-After`: the identity provider's keys are not
    /// loaded yet, so no token can be checked. The fetch's failure is
    /// logged by the key refresh, not per request.
    #[error("the identity provider's keys are not loaded yet")]
    AuthUnavailable,
    /// `404`: the resource or route does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// `409`: the request conflicts with current state (e.g. e-mail taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// `409` with `Retry-After`: the first request with this
    /// `Idempotency-Key` is still being processed.
    #[error("in flight: {0}")]
    InFlight(String),
    /// `413`: the body is over the limit.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// `415`: the body is not JSON.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// `422`: well-formed, but fields break the rules.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// `503` with `Retry-After`: too many requests in flight; shed at once
    /// rather than queued.
    #[error("overloaded")]
    Overloaded,
    /// `503` with `Retry-After`: a dependency is down; the cause is logged.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// `500`: anything unexpected; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::KeysUnavailable => Self::AuthUnavailable,
            refused => Self::InvalidToken(refused),
        }
    }
}

/// A store's failure, for routes that call a store directly (the admin
/// outbox): a store out of reach is `503` with `Retry-After`, as on every
/// resource's routes, so an operator's tool retries rather than reports a
/// bug; anything else is a `500`.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err.into()),
            other => Self::Internal(other.into()),
        }
    }
}

impl ApiError {
    /// The `WWW-Authenticate` challenge of a `401` or `403` (RFC 6750 §3).
    /// The descriptions are fixed texts, never anything from the token.
    fn challenge(&self) -> Option<HeaderValue> {
        match self {
            Self::Unauthorized | Self::MissingToken => Some(HeaderValue::from_static("Bearer")),
            Self::InvalidToken(err) => Some(
                HeaderValue::from_str(&format!(
                    r#"Bearer error="invalid_token", error_description="{err}""#
                ))
                .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer error="invalid_token""#)),
            ),
            Self::InsufficientScope(scope) => Some(
                HeaderValue::from_str(&format!(
                    r#"Bearer error="insufficient_scope", scope="{scope}""#
                ))
                .unwrap_or_else(|_| {
                    HeaderValue::from_static(r#"Bearer error="insufficient_scope""#)
                }),
            ),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = self.challenge();
        let (problem, cause) = match self {
            Self::BadRequest { detail, errors } => (
                Problem {
                    errors,
                    ..Problem::from_status(StatusCode::BAD_REQUEST, detail)
                },
                None,
            ),
            Self::Unauthorized => (
                Problem::from_status(
                    StatusCode::UNAUTHORIZED,
                    "send `Authorization: Bearer <ADMIN_TOKEN>`",
                ),
                None,
            ),
            Self::MissingToken => (
                Problem::from_status(
                    StatusCode::UNAUTHORIZED,
                    "send `Authorization: Bearer <access token>`",
                ),
                None,
            ),
            Self::InvalidToken(err) => (
                Problem {
                    type_: "/problems/invalid-token",
                    ..Problem::from_status(StatusCode::UNAUTHORIZED, err.to_string())
                },
                None,
            ),
            Self::InsufficientScope(scope) => (
                Problem {
                    type_: "/problems/insufficient-scope",
                    ..Problem::from_status(
                        StatusCode::FORBIDDEN,
                        format!("this operation needs a token with the scope `{scope}`"),
                    )
                },
                None,
            ),
            Self::AuthUnavailable => (
                Problem {
                    type_: "/problems/auth-unavailable",
                    ..Problem::from_status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "tokens cannot be checked until the identity provider's keys are loaded; retry after the delay in Retry-After",
                    )
                },
                None,
            ),
            Self::NotFound(detail) => (Problem::from_status(StatusCode::NOT_FOUND, detail), None),
            Self::Conflict(detail) => (
                Problem {
                    type_: "/problems/conflict",
                    ..Problem::from_status(StatusCode::CONFLICT, detail)
                },
                None,
            ),
            Self::InFlight(detail) => (
                Problem {
                    type_: "/problems/in-flight",
                    ..Problem::from_status(StatusCode::CONFLICT, detail)
                },
                None,
            ),
            Self::PayloadTooLarge(detail) => (
                Problem::from_status(StatusCode::PAYLOAD_TOO_LARGE, detail),
                None,
            ),
            Self::UnsupportedMediaType(detail) => (
                Problem::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail),
                None,
            ),
            Self::Validation(errors) => (
                Problem {
                    type_: "/problems/validation",
                    title: "Request validation failed".to_owned(),
                    errors,
                    ..Problem::from_status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "one or more fields are invalid; see `errors`",
                    )
                },
                None,
            ),
            Self::Overloaded => (
                Problem {
                    type_: "/problems/overloaded",
                    ..Problem::from_status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the server is at its concurrency limit; retry after the delay in Retry-After",
                    )
                },
                None,
            ),
            Self::Unavailable(cause) => (
                Problem::from_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "a dependency is unavailable; retry after the delay in Retry-After",
                ),
                Some(cause),
            ),
            Self::Internal(cause) => (
                Problem::from_status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "an unexpected error occurred; quote the request id when reporting it",
                ),
                Some(cause),
            ),
        };
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || problem.type_ == "/problems/in-flight" {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(problem);
        if let Some(cause) = cause {
            response.extensions_mut().insert(Cause(Arc::new(cause)));
        }
        response
    }
}

/// [`CatchPanicLayer`](tower_http::catch_panic::CatchPanicLayer) handler:
/// a panic becomes a `500` whose cause (the panic message) is logged by
/// `problem::render` and never sent to the client.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    metrics::counter!("http_panics_total").increment(1);
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}
