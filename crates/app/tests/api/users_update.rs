//! `PATCH /api/v1/users/{id}`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, UsersApi as _, assert_problem, error_fields};

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = TestApp::spawn().await;
    let created = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());

    let response = app
        .patch_json(&path, &json!({ "name": " Ada King " }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["name"], "Ada King");
    assert_eq!(updated["email"], "ada@example.com");
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_ne!(updated["updated_at"], created["updated_at"]);

    let response = app
        .patch_json(&path, &json!({ "email": "ADA@King.org" }))
        .await;
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["email"], "ada@king.org");
    assert_eq!(updated["name"], "Ada King");

    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched, updated);
}

#[tokio::test]
async fn patch_that_changes_nothing_keeps_updated_at() {
    let app = TestApp::spawn().await;
    let created = app.create_user("same@example.com", "Same").await;
    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    let response = app
        .patch_json(
            &path,
            &json!({ "email": "SAME@example.com", "name": "Same" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), created);
}

#[tokio::test]
async fn patch_to_a_taken_email_is_409() {
    let app = TestApp::spawn().await;
    app.create_user("taken@example.com", "First").await;
    let second = app.create_user("second@example.com", "Second").await;
    let path = format!("/api/v1/users/{}", second["id"].as_str().unwrap());
    let response = app
        .patch_json(&path, &json!({ "email": "Taken@Example.com" }))
        .await;
    assert_problem(response, StatusCode::CONFLICT).await;
    // The user is unchanged.
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["email"], "second@example.com");
}

#[tokio::test]
async fn patch_validation_errors_are_422() {
    let app = TestApp::spawn().await;
    let created = app.create_user("v@example.com", "V").await;
    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    for (body, fields) in [
        (json!({}), vec!["body"]),
        (json!({ "email": "nope" }), vec!["email"]),
        (
            json!({ "email": "nope", "name": "" }),
            vec!["email", "name"],
        ),
        (json!({ "nmae": "typo" }), vec!["nmae"]),
        (json!({ "name": null }), vec!["name"]),
        (json!({ "email": null, "name": "X" }), vec!["email"]),
        (json!({ "name": 42 }), vec!["name"]),
    ] {
        let response = app.patch_json(&path, &body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), fields, "{body}: {problem}");
    }
    // Nothing was changed.
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn patch_unknown_or_malformed_id() {
    let app = TestApp::spawn().await;
    let response = app
        .patch_json(
            &format!("/api/v1/users/{}", uuid::Uuid::now_v7()),
            &json!({ "name": "X" }),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let response = app
        .patch_json("/api/v1/users/nope", &json!({ "name": "X" }))
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}
