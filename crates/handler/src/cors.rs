//! Cross-origin requests from browsers (`CORS_ALLOWED_ORIGINS`), through
//! tower-http's CORS layer.
//!
//! Only the listed origins get CORS headers; with none listed there are no
//! CORS headers at all (and a preflight is an ordinary `OPTIONS`, `405`).
//! Allowed: the methods the API uses, and the request headers
//! `authorization`, `content-type`, `idempotency-key` and `x-request-id`;
//! exposed: `x-request-id` and `location`. Browsers may cache a preflight
//! answer for [`PREFLIGHT_MAX_AGE`].

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may reuse a preflight answer.
pub(crate) const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS policy of the public listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Origins (`scheme://host[:port]`) allowed to call the API.
    pub allowed_origins: Vec<String>,
}

impl CorsPolicy {
    /// The layer, or `None` when no origin is allowed. Origins that are
    /// not valid header values were refused by the settings already; any
    /// left are skipped.
    pub(crate) fn layer(&self) -> Option<CorsLayer> {
        let origins: Vec<HeaderValue> = self
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        if origins.is_empty() {
            return None;
        }
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("idempotency-key"),
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([HeaderName::from_static("x-request-id"), header::LOCATION])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}
