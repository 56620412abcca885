//! The OpenAPI 3.1 document, built from the handlers' annotations and
//! served at `GET /openapi.json`.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use utoipa::OpenApi;

use crate::problem::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bulkhead",
        description = "Users API. Every error is an RFC 9457 `application/problem+json` body.",
    ),
    components(schemas(Problem, FieldError)),
    tags((name = "users", description = "The example resource"))
)]
struct ApiDoc;

/// The document's fixed parts; the routes add their paths and schemas.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// A router serving `spec` as JSON, serialized once.
pub fn router<S: Clone + Send + Sync + 'static>(spec: utoipa::openapi::OpenApi) -> Router<S> {
    // Serializing the document cannot fail: it is built from plain data.
    let body: Arc<str> = Arc::from(spec.to_pretty_json().unwrap_or_default());
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = Arc::clone(&body);
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
            }
        }),
    )
}
