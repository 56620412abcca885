//! The edge of every request: the one middleware between the listener and
//! the routes that sees each request go in and its response come out.
//!
//! In, it marks `Authorization` and `Cookie` sensitive so no log shows
//! them, gives the request its id ([`request_id::assign`]) and starts its
//! [`Observation`] (span, clock, labels). Out, inside the request span, it
//! renders an error response as problem+json ([`problem::render`]), then
//! echoes the request id, says `X-Content-Type-Options: nosniff` (so no
//! browser reads a JSON body as something else) and, once a shutdown has
//! begun, `Connection: close`; last it finishes the observation (metrics
//! and access line) with the final status.
//!
//! These are steps of one function rather than a layer each: every layer
//! clones the whole stack beneath it for each request, and each `from_fn`
//! layer boxes another future.

use std::pin::pin;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use service::health::Health;
use tracing::Instrument as _;

use crate::observe::{HttpMetrics, Observation};
use crate::{problem, request_id};

/// What the edge needs: the HTTP metrics it writes, and the health whose
/// shutdown closes connections (none on the admin listener, which is not
/// behind the load balancer).
#[derive(Debug)]
pub(crate) struct Edge {
    metrics: HttpMetrics,
    health: Option<Arc<Health>>,
}

impl Edge {
    /// An edge for a listener; `health` when its answers should say
    /// `Connection: close` while draining.
    pub(crate) fn new(health: Option<Arc<Health>>) -> Arc<Self> {
        Arc::new(Self {
            metrics: HttpMetrics::new(),
            health,
        })
    }
}

/// Request headers no log line or `Debug` output may show.
const SENSITIVE: [header::HeaderName; 2] = [header::AUTHORIZATION, header::COOKIE];

/// Middleware: everything every request and response passes.
pub(crate) async fn edge(
    State(edge): State<Arc<Edge>>,
    mut request: Request,
    next: Next,
) -> Response {
    mark_sensitive(request.headers_mut());
    let request_id = request_id::assign(&mut request);
    // Made of visible ASCII, whether kept or new.
    let id = request_id.to_str().unwrap_or_default();
    let uri = request.uri().clone();
    let (observation, span) = Observation::start(&request, id);

    let in_flight = edge.metrics.in_flight();
    let mut served = pin!(next.run(request).instrument(span));
    let response = served.as_mut().await;
    drop(in_flight);
    let span = served.span();

    let mut response = span.in_scope(|| problem::render(response, uri.path(), Some(id)));
    let draining = edge.health.as_ref().is_some_and(|h| h.is_shutting_down());
    let headers = response.headers_mut();
    headers.entry(request_id::HEADER).or_insert(request_id);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A client then opens a new connection for its next request (to
    // another replica, once the load balancer has caught up) instead of
    // sending it on an idle keep-alive connection at the moment the
    // listener closes.
    if draining {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    observation.finish(span, &edge.metrics, response.status());
    response
}

fn mark_sensitive(headers: &mut HeaderMap) {
    for name in SENSITIVE {
        if let header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}
