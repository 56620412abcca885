//! RFC 9457 problem details, and the rendering that makes every error
//! response one.
//!
//! Handlers and layers never write error bodies themselves. An error
//! response carries a [`Problem`] (and, for server errors, its cause) in its
//! extensions; `render`, called for every response by the request's
//! edge (`edge.rs`), turns that into the `application/problem+json`
//! body, adds the request id and the path, and logs the cause once, inside
//! the request span. Error responses made by axum or tower-http (wrong
//! method, timeout) carry nothing and get a problem built from their status.

use std::sync::Arc;

use axum::body::Body;
#[cfg(test)]
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
#[cfg(test)]
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem; `about:blank` when the
    /// status says it all.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation")]
    pub type_: &'static str,
    /// A short summary of the kind of problem.
    #[schema(example = "Request validation failed")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id, as in the `X-Request-Id` response header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// One entry per invalid field (validation and bad-request problems).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field: a body member such as `email`, or a parameter such as
    /// `limit`.
    #[schema(example = "email")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "is not a valid e-mail address")]
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

impl Problem {
    /// A problem whose type is `about:blank` and title the status's reason.
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            type_: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            request_id: None,
            errors: Vec::new(),
        }
    }
}

/// The cause of a server error, kept in the response's extensions until
/// `render` logs it.
#[derive(Debug, Clone)]
pub(crate) struct Cause(pub(crate) Arc<anyhow::Error>);

/// Renders an error response as problem+json, naming the request's path
/// (`instance`) and id, and logs the cause of a server error: the one
/// place it is logged. Other responses pass unchanged.
pub(crate) fn render(mut response: Response, path: &str, request_id: Option<&str>) -> Response {
    let status = response.status();

    if let Some(Cause(cause)) = response.extensions_mut().remove::<Cause>() {
        // The one place a server error is logged, with its cause chain.
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(status = status.as_u16(), error = %format_args!("{cause:#}"), "request failed");
        } else {
            tracing::warn!(status = status.as_u16(), error = %format_args!("{cause:#}"), "request failed");
        }
    }

    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if is_unrendered_error(&response) => {
            Problem::from_status(status, default_detail(status))
        }
        None => return response,
    };
    let problem = Problem {
        instance: Some(path.to_owned()),
        request_id: request_id.map(str::to_owned),
        ..problem
    };
    // Serializing strings and numbers cannot fail; were it to, the status
    // still goes out, with an empty body.
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.remove(header::CONTENT_LENGTH);
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// Middleware rendering error responses alone (without a request id),
/// for tests of routes without the whole stack.
#[cfg(test)]
pub(crate) async fn render_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    render(next.run(request).await, &path, None)
}

/// An error response without a body of its own: axum's 405, tower-http's
/// timeout. Error responses that chose a content type (the probes' JSON)
/// are left as they are.
fn is_unrendered_error(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !response.headers().contains_key(header::CONTENT_TYPE)
}

fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "no route matches this path",
        StatusCode::METHOD_NOT_ALLOWED => {
            "this path does not accept this method; see the Allow header"
        }
        StatusCode::GATEWAY_TIMEOUT => "the request did not finish within the server's deadline",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than the server accepts",
        _ => "the request failed",
    }
}
