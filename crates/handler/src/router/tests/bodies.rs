//! Request bodies a handler never sees, rendered as problems by the shared
//! stack and the API limits, around a JSON echo route made for the purpose
//! (the same extractor every resource's handlers take): bad JSON `400`,
//! a body that is not JSON `415`, a body over the limit `413` with or
//! without a `Content-Length`, and a wrong method `405` with `Allow`; and
//! the `Cache-Control: no-store` every resource's answers carry, errors
//! included.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::routing::post;
use hyper::body::Frame;
use serde_json::Value;
use tower::ServiceExt as _;

use super::super::{limited, no_store, not_found, shared};
use super::LIMITS;
use crate::extract::Json;

fn app() -> Router {
    let routes = Router::new()
        .route(
            "/echo",
            post(|Json(body): Json<Value>| async move { Json(body) }).get(|| async { "echo" }),
        )
        .fallback(not_found);
    shared(limited(no_store(routes), LIMITS))
}

async fn send(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn post_echo(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/echo").header("x-request-id", "req-1");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(body.into()).unwrap()
}

/// Checks a problem+json answer of `status` carrying the request id.
fn assert_problem(answer: &(StatusCode, axum::http::HeaderMap, Value), status: StatusCode) {
    let (got, headers, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["request_id"], "req-1", "{body}");
}

/// A body sent in chunks of unknown total size: no `Content-Length`, as
/// with `Transfer-Encoding: chunked`.
struct Chunked(VecDeque<Bytes>);

impl HttpBody for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

#[tokio::test]
async fn a_well_formed_body_reaches_the_handler() {
    let (status, _, body) = send(post_echo(Some("application/json"), r#"{"a":1}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["a"], 1);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let answer = send(post_echo(Some("application/json"), r#"{"a": "#)).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let answer = send(post_echo(content_type, r#"{"a":1}"#)).await;
        assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_or_without_a_length() {
    let big = format!(
        r#"{{"a": "{}"}}"#,
        "x".repeat(2 * LIMITS.request_body_limit)
    );
    let answer = send(post_echo(Some("application/json"), big)).await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);

    let chunks = (0..8).map(|_| Bytes::from("x".repeat(512))).collect();
    let chunked = Body::new(Chunked(chunks));
    assert_eq!(chunked.size_hint().exact(), None, "no length is known");
    let answer = send(post_echo(Some("application/json"), chunked)).await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let request = Request::put("/echo")
        .header("x-request-id", "req-1")
        .body(Body::empty())
        .unwrap();
    let answer = send(request).await;
    let allow = answer.1[header::ALLOW].to_str().unwrap().to_owned();
    assert!(allow.contains("POST") && allow.contains("GET"), "{allow}");
    assert_problem(&answer, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_answer_of_a_resource_says_no_store() {
    let ok = send(post_echo(Some("application/json"), r#"{"a":1}"#)).await;
    let refused = send(post_echo(Some("text/plain"), "x")).await;
    for (what, (status, headers, _)) in [("200", ok), ("415", refused)] {
        assert!(status.is_success() || status.is_client_error(), "{what}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{what}");
    }
}
