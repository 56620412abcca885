//! `X-Request-Id`: kept from the caller when sane, otherwise a new UUIDv7.
//! The id is echoed in the response, recorded on the request span (so every
//! log line of the request carries it) and put in every problem body.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::HeaderName;
use uuid::Uuid;

/// `X-Request-Id`.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied id kept.
pub const MAX_LEN: usize = 128;

/// Whether a caller's id is kept: 1 to [`MAX_LEN`] visible ASCII characters.
pub fn is_valid(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_LEN && value.iter().all(|b| b.is_ascii_graphic())
}

/// Gives `request` its id: the caller's when there is exactly one and it
/// [`is_valid`], otherwise a new UUIDv7 (unique, and sortable by time in
/// log searches) in place of whatever was sent. Returns it for the span,
/// the problem body and the response.
pub fn assign(request: &mut Request) -> HeaderValue {
    let mut sent = request.headers().get_all(HEADER).iter();
    let kept = match (sent.next(), sent.next()) {
        (Some(value), None) if is_valid(value.as_bytes()) => Some(value.clone()),
        _ => None,
    };
    kept.unwrap_or_else(|| {
        let mut buffer = Uuid::encode_buffer();
        let text = Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
        // 36 hex digits and hyphens are always a valid header value; the
        // fallback is never taken.
        let id = HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown"));
        request.headers_mut().insert(HEADER, id.clone());
        id
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::{HEADER, Request, assign, is_valid};

    fn assigned(sent: &[&str]) -> (String, Request) {
        let mut builder = Request::builder().uri("/");
        for value in sent {
            builder = builder.header(HEADER, *value);
        }
        let mut request = builder.body(Body::empty()).unwrap();
        let id = assign(&mut request);
        (id.to_str().unwrap().to_owned(), request)
    }

    #[test]
    fn one_sane_id_is_kept_and_anything_else_replaced_by_a_uuid_v7() {
        let (id, request) = assigned(&["abc-123"]);
        assert_eq!(id, "abc-123");
        assert_eq!(request.headers()[HEADER], "abc-123");
        for sent in [&[][..], &["has space"], &["one", "two"]] {
            let (id, request) = assigned(sent);
            let uuid = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{sent:?}");
            let headers: Vec<_> = request.headers().get_all(HEADER).iter().collect();
            assert_eq!(headers, [id.as_str()], "{sent:?}");
        }
    }

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
