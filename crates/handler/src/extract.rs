//! Extractors whose rejections are [`ApiError`]s, so axum's own failures
//! (bad JSON, wrong content type, body too large, bad query string, a path
//! segment that is not UTF-8, a text body that is not UTF-8) come out as
//! problem+json like every other error.
//!
//! Handlers take these instead of axum's `Json`, `Query`, `Path` and
//! `String`: axum's rejections are plain text with a content type of their
//! own, which the problem renderer leaves alone.

use std::error::Error as _;

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection, StringRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::problem::FieldError;

/// `axum::Json` with problem+json rejections.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with problem+json rejections.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with problem+json rejections.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Parses an `{id}` path segment taken as text, so that a bad id gets a
/// `400` problem naming the parameter; `noun` names what the id is of
/// (`"order"`).
///
/// Only the hyphenated form (`format: uuid`, either case) is an id: the
/// simple, braced and URN spellings that `Uuid::parse_str` also takes are
/// not what the document says.
///
/// # Errors
/// A `400` naming `id`.
pub fn path_id(raw: &str, noun: &str) -> Result<Uuid, ApiError> {
    let hyphenated = raw.len() == 36
        && raw
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
    hyphenated
        .then(|| Uuid::parse_str(raw).ok())
        .flatten()
        .ok_or_else(|| ApiError::BadRequest {
            detail: format!("{noun} id `{raw}` is not a UUID"),
            errors: vec![FieldError::new(
                "id",
                "must be a UUID (8-4-4-4-12 hex digits)",
            )],
        })
}

/// A UTF-8 text body (what `String` extracts) with problem+json rejections.
#[derive(Debug, Clone, Default)]
pub struct Text(pub String);

impl<S: Send + Sync> FromRequest<S> for Text {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        String::from_request(request, state)
            .await
            .map(Self)
            .map_err(ApiError::from)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // Valid JSON of the wrong shape: a validation error naming the
            // field, e.g. `name: invalid type: integer, expected a string`.
            JsonRejection::JsonDataError(err) => Self::Validation(vec![data_error(&err)]),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "the body must be JSON, sent with `Content-Type: application/json`".to_owned(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(
                "the request body is larger than the server accepts".to_owned(),
            ),
            other => Self::BadRequest {
                detail: other.body_text(),
                errors: Vec::new(),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest {
            detail: rejection.body_text(),
            errors: Vec::new(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        if rejection.status().is_server_error() {
            // The route and the extractor disagree: a bug, not a bad request.
            return Self::Internal(anyhow::anyhow!(
                "path parameters: {}",
                rejection.body_text()
            ));
        }
        let errors = match &rejection {
            PathRejection::FailedToDeserializePathParams(err) => match err.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => {
                    vec![FieldError::new(key, "is not UTF-8 once percent-decoded")]
                }
                ErrorKind::ParseErrorAtKey {
                    key, expected_type, ..
                } => vec![FieldError::new(key, format!("must be a {expected_type}"))],
                ErrorKind::DeserializeError { key, message, .. } => {
                    vec![FieldError::new(key, message)]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Self::BadRequest {
            detail: "the path is malformed".to_owned(),
            errors,
        }
    }
}

impl From<StringRejection> for ApiError {
    fn from(rejection: StringRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::PayloadTooLarge(
                "the request body is larger than the server accepts".to_owned(),
            );
        }
        Self::BadRequest {
            detail: format!("the body must be UTF-8 text: {}", rejection.body_text()),
            errors: Vec::new(),
        }
    }
}

/// The field and message of a JSON data error, from the
/// `serde_path_to_error` error axum wraps.
fn data_error(err: &axum::extract::rejection::JsonDataError) -> FieldError {
    let mut source = err.source();
    while let Some(inner) = source {
        if let Some(e) = inner.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_owned() } else { path };
            return FieldError::new(field, e.inner());
        }
        source = inner.source();
    }
    FieldError::new("body", err.body_text())
}
