//! PostgreSQL unreachable: requests fail fast with 503, and the service
//! recovers by itself when it returns. The vehicle is the admin listener's
//! outbox listing and re-drive, the database-bound routes every project
//! has whatever its resources.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    Proxy, TestApp, admin_database_url, assert_problem, closed_port, enqueue_event, lock_outbox,
    server_addr,
};

async fn list_outbox(app: &TestApp, query: &str) -> Response {
    app.client
        .get(app.admin_url(&format!("/admin/outbox{query}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_retry_after_quickly() {
    let port = closed_port().await;
    let app = TestApp::builder()
        .database_url(format!("postgres://postgres@{port}/nothing"))
        .var("DATABASE_ACQUIRE_TIMEOUT", "500ms")
        .spawn()
        .await;
    for query in ["", "?status=dead&limit=10"] {
        let started = Instant::now();
        let response = list_outbox(&app, query).await;
        let elapsed = started.elapsed();
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(!problem["detail"].as_str().unwrap().contains("PoolTimedOut"));
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }
    // A write, too.
    let started = Instant::now();
    let response = app
        .client
        .post(app.admin_url("/admin/outbox/redrive"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_service_recovers_when_the_database_returns() {
    let proxy = Proxy::start(server_addr(&admin_database_url(), 5432)).await;
    let app = TestApp::builder()
        .database_via(proxy.addr)
        .var("DATABASE_ACQUIRE_TIMEOUT", "500ms")
        // The event stays pending, for the listing to find.
        .var("OUTBOX_WORKER_ENABLED", "false")
        .spawn()
        .await;
    let id = enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;

    proxy.cut();
    let started = Instant::now();
    assert_problem(list_outbox(&app, "").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(started.elapsed() < Duration::from_secs(3));

    proxy.restore();
    // The pool reconnects on demand; the first request after the restore
    // may still meet a connection the cut broke, so poll briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = list_outbox(&app, "").await;
        if response.status() == StatusCode::OK {
            let page: Value = response.json().await.unwrap();
            assert_eq!(page["items"][0]["id"], id.to_string());
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "no recovery within 10s");
    }
    assert_eq!(
        list_outbox(&app, "?status=pending").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_table_locked_elsewhere_is_503_within_the_statement_timeout() {
    let app = TestApp::builder()
        .var("DATABASE_STATEMENT_TIMEOUT", "300ms")
        .spawn()
        .await;
    let tx = lock_outbox(&app.db).await;

    let started = Instant::now();
    let response = list_outbox(&app, "").await;
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    tx.rollback().await.unwrap();

    assert_eq!(list_outbox(&app, "").await.status(), StatusCode::OK);
}
