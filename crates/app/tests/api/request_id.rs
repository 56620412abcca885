//! `X-Request-Id`.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem};

#[tokio::test]
async fn a_sane_request_id_is_kept() {
    let app = TestApp::spawn().await;
    let id = "trace-me-0123456789";
    let response = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], id);
    let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["request_id"], id);
}

#[tokio::test]
async fn an_insane_request_id_is_replaced_with_a_uuid_v7() {
    let app = TestApp::spawn().await;
    let too_long = "x".repeat(129);
    for bad in ["has spaces", too_long.as_str(), ""] {
        let response = app
            .client
            .get(app.url("/openapi.json"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    }
}

#[tokio::test]
async fn every_response_gets_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
}
