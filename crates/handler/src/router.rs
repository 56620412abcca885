//! The public router and its middleware stack.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{StatusCode, header};
use axum::middleware;
use service::users::UserService;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::{openapi, problem, request_id, users};

/// What handlers can reach. Each handler extracts only the part it needs
/// (`State<Arc<UserService>>`), through [`FromRef`].
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// The user use cases.
    pub users: Arc<UserService>,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Past this, the request is answered with `504`.
    pub request_timeout: Duration,
    /// Larger bodies are refused with `413`.
    pub request_body_limit: usize,
}

/// The public router: the API, `/openapi.json`, a problem+json fallback, and
/// the middleware every request passes through, outermost first:
///
/// 1. `Authorization`/`Cookie` are marked sensitive, so no log shows them;
/// 2. the request id is checked or made, and echoed in the response;
/// 3. the request span is opened (everything below logs inside it);
/// 4. every error response is rendered as problem+json, and logged once;
/// 5. a panic in a handler becomes a `500`;
/// 6. the request deadline turns into a `504`;
/// 7. the body limit is enforced by the extractors (`413`).
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let (api, spec) = OpenApiRouter::with_openapi(openapi::base())
        .merge(users::router())
        .split_for_parts();
    let routes = api
        .merge(openapi::router(spec))
        .fallback(not_found)
        .with_state(state);
    with_middleware(routes, limits)
}

/// Wraps `routes` in the middleware stack described on [`router`].
fn with_middleware(routes: Router, limits: HttpLimits) -> Router {
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(middleware::map_request(request_id::drop_invalid))
        .layer(SetRequestIdLayer::x_request_id(request_id::MakeRequestIdV7))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_id::make_span))
        .layer(middleware::from_fn(problem::render))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(limits.request_body_limit));

    routes.layer(middleware)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no route matches this path".to_owned())
}

#[cfg(test)]
mod tests;
