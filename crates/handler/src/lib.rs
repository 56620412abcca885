//! HTTP: the axum router, its middleware, extractors, error responses and
//! the OpenAPI document.
//!
//! This is the only crate that knows axum and HTTP. Handlers turn request
//! bodies into `service` domain types once, call the service, and map its
//! errors to RFC 9457 problem responses in one place ([`error`]).
//!
//! # Layout
//! - [`router`]: the public and admin routers with their middleware stacks.
//! - `state`: [`AppState`], what the public router's handlers can reach.
//! - `edge`: the one middleware every request and response passes
//!   (request id, observation, problem rendering, response headers).
//! - [`observe`]: the request span, access log line and HTTP metrics.
//! - [`probes`]: `/healthz`, `/startupz`, `/readyz`.
//! - [`admin`]: `/metrics` and `/debug/log-level` on the admin listener.
//! - [`auth`]: bearer tokens and scopes on the API's routes.
//! - `cors`: [`CorsPolicy`], the cross-origin policy of the public listener.
//! - [`users`]: the users routes and their request/response bodies.
//! - [`error`]: [`ApiError`](error::ApiError), the one error type handlers
//!   return, its status mapping, and the answer to a panic.
//! - [`problem`]: the problem+json body, and the rendering of every error
//!   response (axum's own 404/405/413, timeouts, panics) as one.
//! - [`responses`]: the error answers operations share in the OpenAPI
//!   document (request, item, body, auth and server errors).
//! - [`extract`]: `Json`/`Query`/`Path` wrappers whose rejections are
//!   problems, and the `{id}` path segment as a UUID.
//! - [`body`]: a JSON body read member by member, every problem reported.
//! - [`paging`]: the `limit`/`cursor` query and `next_cursor` every list
//!   shares.
//! - [`idempotency`]: the `Idempotency-Key` header and stored answers.
//! - [`request_id`]: `X-Request-Id` handling.
//! - [`server`]: [`Server`](server::Server), serving with a bounded drain.
//! - [`openapi`]: the OpenAPI 3.1 document served at `/openapi.json`.

pub mod admin;
pub mod auth;
pub mod body;
mod cors;
mod edge;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod observe;
pub mod openapi;
pub mod paging;
pub mod probes;
pub mod problem;
pub mod request_id;
pub mod responses;
pub mod server;
pub mod users;

mod router;
mod state;

pub use crate::cors::CorsPolicy;
pub use crate::router::{HttpLimits, admin_router, router};
pub use crate::state::AppState;

/// Describes every metric this crate writes (and registers at zero those
/// it can name in advance).
pub fn describe_metrics() {
    observe::describe_metrics();
    auth::describe_metrics();
}
