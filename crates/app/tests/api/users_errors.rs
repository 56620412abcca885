//! The users routes' own error answers: a body the create route cannot
//! read is a problem (`400`, `415`, `413`, also when chunked), a path under
//! a user is `404`, a wrong method on either users route `405` with
//! `Allow`. The middleware behind them is covered without the example in
//! `errors.rs` and the handler crate's router tests.

use reqwest::{StatusCode, header};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::errors::assert_method_not_allowed;
use crate::helpers::{TestApp, assert_problem};

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"email": "a@example.com", "name": "#)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = app
            .client
            .post(app.url("/api/v1/users"))
            .body(r#"{"email": "a@example.com", "name": "A"}"#);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = TestApp::builder()
        .var("REQUEST_BODY_LIMIT", "1KiB")
        .spawn()
        .await;
    let name = "x".repeat(2048);
    let body = format!(r#"{{"email": "big@example.com", "name": "{name}"}}"#);
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Also when the body is chunked, without a Content-Length.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let chunk = "x".repeat(512);
    let mut request = String::from(
        "POST /api/v1/users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..8 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply}");
    assert!(reply.contains("application/problem+json"), "{reply}");
}

#[tokio::test]
async fn a_path_under_a_user_is_404() {
    let app = TestApp::spawn().await;
    for path in ["/api/v2/users", "/api/v1/users/a/b"] {
        let problem = assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["instance"], path);
    }
}

#[tokio::test]
async fn a_wrong_method_on_the_users_routes_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .put(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_method_not_allowed(response, &["POST", "GET"]).await;

    let response = app
        .client
        .post(app.url(&format!("/api/v1/users/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}
