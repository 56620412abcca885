//! The public and admin routers and their middleware stacks.

use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::Route;
use tower::layer::util::Identity;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::load_shed::error::Overloaded;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::admin::{self, AdminState};
use crate::auth::Auth;
use crate::cors::CorsPolicy;
use crate::edge::{self, Edge};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{error, openapi, probes, users};

/// Limits applied to API requests.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Past this, the request is answered with `504`.
    pub request_timeout: Duration,
    /// Larger bodies are refused with `413`.
    pub request_body_limit: usize,
    /// Requests in flight across the whole API before new ones are shed.
    pub max_concurrent_requests: usize,
}

/// The public router: the API and `/openapi.json` behind the limits, the
/// probes outside them, and a problem+json fallback.
///
/// API requests pass, outermost first, the shared stack of [`shared`], then:
/// 1. load shedding: past `max_concurrent_requests` in flight (one limit
///    for the whole API, not one per route), `503` with `Retry-After` at
///    once instead of a queue;
/// 2. the request deadline (`504`);
/// 3. the body limit, enforced by the extractors (`413`);
/// 4. each resource's bearer-token and scope check ([`auth::require`](crate::auth::require)),
///    inside the deadline, so a request waiting for the identity provider's
///    keys still ends in time.
///
/// Probes are never shed and have no deadline: a busy pod must still say
/// it is alive.
pub fn router(state: AppState, limits: HttpLimits, cors: &CorsPolicy) -> Router {
    let (api, spec) = OpenApiRouter::with_openapi(openapi::base())
        .merge(users::router(state.auth.clone()))
        .split_for_parts();
    let api = no_store(api);
    // The document describes the service as it runs: an open API has no
    // security requirement for clients to meet.
    let spec = if matches!(state.auth, Auth::Open) {
        without_security(spec)
    } else {
        spec
    };
    let api = limited(api.merge(openapi::router(spec)), limits);
    let edge = Edge::new(Some(Arc::clone(&state.health)));
    let routes = api
        .merge(probes::router())
        .fallback(not_found)
        .with_state(state);
    // Outside the limits: a preflight is answered at once, never shed.
    shared_around(routes, edge, tower::util::option_layer(cors.layer()))
}

/// Says `Cache-Control: no-store` on every answer of `routes`: the
/// resources' answers carry personal data, and no cache may keep them.
fn no_store<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}

/// Applies the API limits (shedding, deadline, body size) to `routes`.
fn limited<S: Clone + Send + Sync + 'static>(routes: Router<S>, limits: HttpLimits) -> Router<S> {
    routes.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(shed))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(
                limits.max_concurrent_requests,
            ))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                limits.request_timeout,
            ))
            .layer(DefaultBodyLimit::max(limits.request_body_limit)),
    )
}

/// The admin router: `/metrics` and `/debug/log-level`, with the shared
/// stack.
pub fn admin_router(state: AdminState) -> Router {
    shared(admin::routes(state).fallback(not_found))
}

/// The middleware every request passes through, outermost first:
///
/// 1. the [`edge`](crate::edge): request id, span, access log line and
///    HTTP metrics, problem+json for every error response, the response's
///    security headers;
/// 2. a panic in a handler becomes a counted `500`.
fn shared(routes: Router) -> Router {
    shared_around(routes, Edge::new(None), Identity::new())
}

/// [`shared`] with `edge`, and `inner` between it and the routes. One
/// layer, not several: each `Router::layer` boxes every route again, and
/// a boxed route is cloned for each request it serves.
fn shared_around<L>(routes: Router, edge: Arc<Edge>, inner: L) -> Router
where
    L: Layer<Route> + Clone + Send + Sync + 'static,
    L::Service:
        Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    <L::Service as Service<Request>>::Future: Send + 'static,
{
    routes.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(edge, edge::edge))
            .layer(CatchPanicLayer::custom(error::panic_response))
            .layer(inner),
    )
}

/// The document without any operation's security requirement.
fn without_security(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for item in spec.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation.security = None;
        }
    }
    spec
}

/// Turns the load-shedding layer's error into a `503`.
async fn shed(err: tower::BoxError) -> ApiError {
    if err.is::<Overloaded>() {
        metrics::counter!("http_requests_shed_total").increment(1);
        ApiError::Overloaded
    } else {
        ApiError::Internal(anyhow::anyhow!("middleware failed: {err}"))
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no route matches this path".to_owned())
}

#[cfg(test)]
mod tests;
