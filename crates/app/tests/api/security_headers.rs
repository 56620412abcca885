//! Headers every response carries for the browser's and the caches' sake:
//! `X-Content-Type-Options: nosniff` everywhere, and `Cache-Control:
//! no-store` on the API's answers, which carry personal data.

use reqwest::{Response, StatusCode, header};
use serde_json::json;

use crate::helpers::TestApp;

fn assert_nosniff(response: &Response, what: &str) {
    assert_eq!(
        response
            .headers()
            .get(header::X_CONTENT_TYPE_OPTIONS)
            .map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}"
    );
}

fn assert_no_store(response: &Response, what: &str) {
    assert_eq!(
        response
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{what}"
    );
}

#[tokio::test]
async fn api_answers_are_never_stored_and_never_sniffed() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "grace@example.com", "name": "Grace"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_no_store(&created, "POST 201");
    assert_nosniff(&created, "POST 201");
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/api/v1/users/{id}");
    for (what, response) in [
        ("GET one", app.get(&path).await),
        ("GET list", app.get("/api/v1/users").await),
        (
            "PATCH",
            app.patch_json(&path, &json!({"name": "Grace Hopper"}))
                .await,
        ),
        (
            "422",
            app.post_json("/api/v1/users", &json!({"email": "x"})).await,
        ),
        ("DELETE", app.delete(&path).await),
        ("404 after delete", app.get(&path).await),
    ] {
        assert!(
            response.status().is_success() || response.status().is_client_error(),
            "{what}: {}",
            response.status()
        );
        assert_no_store(&response, what);
        assert_nosniff(&response, what);
    }
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
