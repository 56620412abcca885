//! `DELETE /api/v1/users/{id}`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, UsersApi as _, assert_problem};

#[tokio::test]
async fn deleted_user_is_gone_everywhere() {
    let app = TestApp::spawn().await;
    let keep = app.create_user("keep@example.com", "Keep").await;
    let gone = app.create_user("gone@example.com", "Gone").await;
    let path = format!("/api/v1/users/{}", gone["id"].as_str().unwrap());
    // Read once so the cache holds it.
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);

    let response = app.delete(&path).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());

    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND).await;
    let page: Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(page["items"], serde_json::json!([keep]));
    assert_problem(app.delete(&path).await, StatusCode::NOT_FOUND).await;

    // The address is free again.
    app.create_user("gone@example.com", "Back").await;
}

#[tokio::test]
async fn delete_with_a_malformed_id_is_400() {
    let app = TestApp::spawn().await;
    assert_problem(
        app.delete("/api/v1/users/42").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
