//! The OpenAPI 3.1 document, built from the handlers' annotations and
//! served at `GET /openapi.json`.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bulkhead",
        description = "Every error is an RFC 9457 `application/problem+json` body. \
            Operations need a bearer JWT access token with the scopes listed on each \
            (`<resource>:read` to read, `<resource>:write` to change); a deployment \
            without an identity provider leaves them open.",
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "The example resource"),
    )
)]
struct ApiDoc;

/// The name operations use in `security(...)` for a bearer token.
pub const BEARER: &str = "bearer";

/// Declares the bearer-token scheme: an RFC 9068 JWT access token from
/// the identity provider.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT access token (RFC 9068) signed with RS256 or ES256 by the \
                         identity provider; its `scope` claim grants the operations' scopes.",
                    ))
                    .build(),
            ),
        );
    }
}

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
