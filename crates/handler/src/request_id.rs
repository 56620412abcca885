//! `X-Request-Id`: kept from the caller when sane, otherwise a new UUIDv7.
//! The id is echoed in the response, recorded on the request span (so every
//! log line of the request carries it) and put in every problem body.

use axum::extract::Request;
use axum::http::HeaderValue;
use tower_http::request_id::{MakeRequestId, RequestId};
use uuid::Uuid;

const HEADER: &str = "x-request-id";

/// Longest caller-supplied id kept.
pub const MAX_LEN: usize = 128;

/// Whether a caller's id is kept: 1 to [`MAX_LEN`] visible ASCII characters.
pub fn is_valid(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_LEN && value.iter().all(|b| b.is_ascii_graphic())
}

/// Removes a caller's id that is not [`is_valid`], so that a new one is made.
pub async fn drop_invalid(mut request: Request) -> Request {
    if request
        .headers()
        .get_all(HEADER)
        .iter()
        .enumerate()
        .any(|(i, v)| i > 0 || !is_valid(v.as_bytes()))
    {
        request.headers_mut().remove(HEADER);
    }
    request
}

/// Makes UUIDv7 request ids: unique, and sortable by time in log searches.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestIdV7;

impl MakeRequestId for MakeRequestIdV7 {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = Uuid::now_v7().hyphenated().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The request id as text, if the request has one.
pub fn of<B>(request: &axum::http::Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

/// The span every request runs in.
pub fn make_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = of(request).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn sane_ids_are_kept_and_others_are_not() {
        assert!(is_valid(b"abc-123"));
        assert!(is_valid("x".repeat(128).as_bytes()));
        assert!(!is_valid("x".repeat(129).as_bytes()));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"has space"));
        assert!(!is_valid("é".as_bytes()));
        assert!(!is_valid(b"tab\there"));
    }
}
