//! Headers every response carries for the browser's sake:
//! `X-Content-Type-Options: nosniff` on every listener and route, errors
//! included. (`Cache-Control: no-store` is set on the resources' answers
//! only: the handler crate's router tests check the layer around a route
//! of their own, and each resource's tests check it on its routes.)

use reqwest::{Response, StatusCode, header};

use crate::helpers::TestApp;

/// Checks that `response` says `X-Content-Type-Options: nosniff`.
pub fn assert_nosniff(response: &Response, what: &str) {
    assert_eq!(
        response
            .headers()
            .get(header::X_CONTENT_TYPE_OPTIONS)
            .map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}"
    );
}

#[tokio::test]
async fn every_listener_sends_nosniff() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/openapi.json", "/no/such/route"] {
        assert_nosniff(&app.get(path).await, path);
    }
    let client = reqwest::Client::new();
    for path in ["/metrics", "/no/such/route"] {
        let response = client.get(app.admin_url(path)).send().await.unwrap();
        assert_nosniff(&response, &format!("admin {path}"));
    }
}

#[tokio::test]
async fn errors_of_the_middleware_are_never_sniffed() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .put(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_nosniff(&response, "405");
    let response = app
        .client
        .post(app.admin_url("/admin/outbox/not-an-id/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_nosniff(&response, "admin 400");
}
