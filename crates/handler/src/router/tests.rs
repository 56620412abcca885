//! The middleware stack, driven with `oneshot` around routes made for the
//! purpose (a slow one, a panicking one), with a paused clock.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use serde_json::Value;
use tower::ServiceExt as _;

use std::sync::Arc;

use tokio::sync::Notify;

use super::{HttpLimits, limited, not_found, shared};

mod bodies;

const LIMITS: HttpLimits = HttpLimits {
    request_timeout: Duration::from_secs(2),
    request_body_limit: 1024,
    max_concurrent_requests: 1,
};

fn app() -> Router {
    let routes = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "too late"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                let secret = "connection string with password";
                if !secret.is_empty() {
                    panic!("boom: {secret}");
                }
                "unreachable"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .fallback(not_found);
    shared(limited(routes, LIMITS))
}

async fn call(path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let request = Request::get(path)
        .header("x-request-id", "req-1")
        .body(Body::empty())
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test(start_paused = true)]
async fn a_request_past_the_deadline_is_504_problem() {
    let started = tokio::time::Instant::now();
    let (status, headers, body) = call("/slow").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(started.elapsed(), LIMITS.request_timeout);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["status"], 504);
    assert_eq!(body["request_id"], "req-1");
}

#[tokio::test]
async fn a_panic_is_500_problem_that_reveals_nothing() {
    let (status, headers, body) = call("/panic").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["request_id"], "req-1");
    let text = body.to_string();
    assert!(
        !text.contains("boom") && !text.contains("password"),
        "{text}"
    );

    // The server keeps serving.
    let (status, _, _) = call("/ok").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn successful_responses_are_left_alone() {
    let response = app()
        .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(&bytes[..], b"ok");
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_are_shed_at_once() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let hold = {
        let (release, entered) = (Arc::clone(&release), Arc::clone(&entered));
        move || async move {
            entered.notify_one();
            release.notified().await;
            "held"
        }
    };
    // The limit spans routes: a request to another route is shed too.
    let api = limited(
        Router::new()
            .route("/hold", get(hold))
            .route("/other", get(|| async { "other" })),
        LIMITS,
    );
    let app = shared(api.merge(Router::new().route("/probe", get(|| async { "alive" }))));

    let first = tokio::spawn(
        app.clone()
            .oneshot(Request::get("/hold").body(Body::empty()).unwrap()),
    );
    entered.notified().await;

    let shed = app
        .clone()
        .oneshot(Request::get("/other").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()[header::RETRY_AFTER], "5");
    assert_eq!(
        shed.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    // Routes outside the limit (the probes) still answer.
    let probe = app
        .clone()
        .oneshot(Request::get("/probe").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK);

    release.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    let after = app
        .oneshot(Request::get("/other").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK, "capacity is released");
}
