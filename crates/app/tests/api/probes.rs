//! `/healthz`, `/startupz`, `/readyz`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Cache, TestApp, closed_port};

/// Polls `path` until it answers `status`, failing after 10 s.
async fn until_status(app: &TestApp, path: &str, status: StatusCode) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get(path).await;
        if response.status() == status {
            return response.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "{path} never answered {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn started_and_ready_with_every_dependency_up() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );

    until_status(&app, "/startupz", StatusCode::OK).await;
    let ready = until_status(&app, "/readyz", StatusCode::OK).await;
    assert_eq!(
        ready,
        json!({
            "status": "ready",
            "started": true,
            "shutting_down": false,
            "dependencies": {
                "postgres": { "status": "up", "required": true },
                "redis": { "status": "up", "required": false },
            },
            "breakers": { "redis": "closed", "webhook": "closed" },
        })
    );
}

#[tokio::test]
async fn redis_down_is_degraded_but_ready() {
    let port = closed_port().await;
    let app = TestApp::builder()
        .cache(Cache::At(format!("redis://{port}")))
        .spawn()
        .await;
    let ready = until_status(&app, "/readyz", StatusCode::OK).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["dependencies"]["redis"]["status"], "down");
    assert_eq!(ready["dependencies"]["postgres"]["status"], "up");
}

#[tokio::test]
async fn without_the_database_the_service_is_alive_but_never_started() {
    let port = closed_port().await;
    let app = TestApp::builder()
        .database_url(format!("postgres://postgres@{port}/nothing"))
        .var("DATABASE_ACQUIRE_TIMEOUT", "200ms")
        .spawn()
        .await;
    // Give start-up a few attempts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/startupz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["started"], false);
}

#[tokio::test]
async fn readiness_fails_at_once_on_shutdown_while_requests_are_still_served() {
    let app = TestApp::builder().var("SHUTDOWN_DELAY", "3s").spawn().await;
    until_status(&app, "/readyz", StatusCode::OK).await;
    let before = app.get("/openapi.json").await;
    assert!(
        !before.headers().contains_key("connection"),
        "keep-alive before the signal"
    );
    app.signal_stop();
    let body = until_status(&app, "/readyz", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["shutting_down"], true);
    // Still serving during SHUTDOWN_DELAY: liveness and the routes behind
    // the API limits answer.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let during = app.get("/openapi.json").await;
    assert_eq!(during.status(), StatusCode::OK);
    // Every answer now closes its connection, so no client is left holding
    // an idle keep-alive connection the listener's close would race with.
    assert_eq!(
        during
            .headers()
            .get("connection")
            .map(|v| v.to_str().unwrap()),
        Some("close")
    );
}
