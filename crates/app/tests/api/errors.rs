//! Errors made by axum and the middleware, not by handlers, are problems
//! too: an unknown route is a `404`, a wrong method a `405` with `Allow`,
//! on the public listener and the admin one. The body errors (bad JSON,
//! wrong content type, too large) need a route that takes a body; the
//! handler crate's router tests cover them around a route of their own.

use reqwest::{StatusCode, header};

use crate::helpers::{TestApp, assert_problem};

#[tokio::test]
async fn unknown_route_is_404() {
    let app = TestApp::spawn().await;
    for path in ["/", "/api/v1/nope", "/api/v2/things", "/openapi.json/extra"] {
        let problem = assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["instance"], path);
    }
    let response = app
        .client
        .get(app.admin_url("/admin/nope"))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["instance"], "/admin/nope");
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .put(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_method_not_allowed(response, &["GET"]).await;

    // A route with a path parameter, on the admin listener.
    let response = app
        .client
        .get(app.admin_url(&format!("/admin/outbox/{}/retry", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_method_not_allowed(response, &["POST"]).await;
}

/// Checks that `response` is a `405` problem whose `Allow` names each of
/// `methods`.
pub async fn assert_method_not_allowed(response: reqwest::Response, methods: &[&str]) {
    let allow = response.headers()[header::ALLOW]
        .to_str()
        .unwrap()
        .to_owned();
    for method in methods {
        assert!(allow.contains(method), "{method} not in {allow}");
    }
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}
