//! The users example's answers are never stored by a cache
//! (`Cache-Control: no-store`, since they carry personal data) and never
//! sniffed, on every route and status. `nosniff` everywhere else is
//! covered in `security_headers.rs`.

use reqwest::{Response, StatusCode, header};
use serde_json::json;

use crate::helpers::TestApp;
use crate::security_headers::assert_nosniff;

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
