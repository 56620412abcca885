//! The `Idempotency-Key` request header (IETF httpapi draft), for any
//! `POST` that wants it: [`IdempotencyKeyHeader`] extracts it, [`answer`]
//! turns a response into the record stored with the key, and [`respond`]
//! sends a stored record, first time and replay alike, so a replay is the
//! first answer byte for byte (plus `Idempotent-Replayed: true`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use service::idempotency::{IdempotencyKey, StoredAnswer};

use crate::error::ApiError;
use crate::problem::FieldError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's `Idempotency-Key`, if it sent one. A malformed key is a
/// `400` problem naming the header.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(HEADER).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return if parts.headers.contains_key(HEADER) {
                Err(bad_key("must be sent once"))
            } else {
                Ok(Self(None))
            };
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|raw| IdempotencyKey::parse(raw).ok())
            .ok_or_else(|| {
                bad_key(&format!(
                    "must be 1 to {} visible ASCII characters",
                    IdempotencyKey::MAX_LEN
                ))
            })?;
        Ok(Self(Some(key)))
    }
}

fn bad_key(message: &str) -> ApiError {
    ApiError::BadRequest {
        detail: "the Idempotency-Key header is not valid".to_owned(),
        errors: vec![FieldError::new("Idempotency-Key", message)],
    }
}

/// The record of a JSON answer, to store with a key.
pub fn answer(status: StatusCode, location: Option<String>, body: &impl Serialize) -> StoredAnswer {
    StoredAnswer {
        status: status.as_u16(),
        location,
        // Serializing the API's own response types cannot fail; were it
        // to, the answer would be an empty body with its status.
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// Sends a stored answer; `replayed` marks one sent again for a key.
pub fn respond(answer: StoredAnswer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(location) = answer.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if replayed {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}
