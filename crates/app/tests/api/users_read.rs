//! `GET /api/v1/users/{id}`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Cache, TestApp, UsersApi as _, assert_problem, error_fields};

#[tokio::test]
async fn get_returns_the_user() {
    let app = TestApp::spawn().await;
    let created = app.create_user("ada@example.com", "Ada").await;
    let response = app
        .get(&format!(
            "/api/v1/users/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), created);
}

#[tokio::test]
async fn unknown_id_is_404() {
    let app = TestApp::spawn().await;
    let response = app
        .get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()))
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_400() {
    let app = TestApp::spawn().await;
    for id in ["abc", "123", "01a2-zz"] {
        let response = app.get(&format!("/api/v1/users/{id}")).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), ["id"]);
    }
}

#[tokio::test]
async fn the_service_runs_without_a_cache() {
    let app = TestApp::builder().cache(Cache::Off).spawn().await;
    let created = app.create_user("nocache@example.com", "No Cache").await;
    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.json::<Value>().await.unwrap(), created);
    let patched = app
        .patch_json(&path, &serde_json::json!({ "name": "Changed" }))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["name"], "Changed");
}
