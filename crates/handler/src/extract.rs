//! Extractors whose rejections are [`ApiError`]s, so axum's own failures
//! (bad JSON, wrong content type, body too large, bad query string) come out
//! as problem+json like every other error.

use std::error::Error as _;

use axum::extract::FromRequest;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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
