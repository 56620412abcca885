//! The users example behind PgBouncer in transaction pooling mode: the
//! whole users API, idempotent creation and the users' events work while
//! more clients than server connections take turns. The pooler itself is
//! covered without the example in `pgbouncer.rs`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::outbox::support::with_webhook;
use crate::pgbouncer::server::PgBouncer;
use crate::pgbouncer::{SERVER_CONNECTIONS, behind};
use crate::webhook_receiver::{Receiver, Reply};

#[tokio::test]
async fn the_users_api_idempotent_creation_and_events_work_through_transaction_pooling() {
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = with_webhook(behind(&bouncer), &receiver)
        .var("DATABASE_MAX_CONNECTIONS", "8")
        .var("OUTBOX_POLL_INTERVAL", "100ms")
        .spawn()
        .await;

    // Sixteen clients at once, each through the whole life of a user: far
    // more statements in flight than server connections, every one
    // prepared and run on whichever connection the pooler lends.
    let app = std::sync::Arc::new(app);
    let lives = (0..16).map(|i| {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move { user_life(&app, i).await })
    });
    for life in futures::future::join_all(lives).await {
        life.unwrap();
    }
    let listed: Value = app
        .get("/api/v1/users?limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 8, "{listed}");

    // 16 created, 16 updated, 8 deleted, delivered by a worker that polls
    // (no LISTEN through the pooler).
    let received = receiver.until_received(40).await;
    let count = |kind: &str| received.iter().filter(|r| r.json()["type"] == kind).count();
    assert_eq!(
        (
            count("user.created"),
            count("user.updated"),
            count("user.deleted")
        ),
        (16, 16, 8)
    );

    // PostgreSQL saw no more than the pooler's connections.
    let direct = app.db.pool().await;
    let backends: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&app.db.name)
    .fetch_one(&direct)
    .await
    .unwrap();
    assert!(
        backends <= i64::from(SERVER_CONNECTIONS),
        "{backends} server connections"
    );
}

/// Creates (twice with one idempotency key), reads, renames, and for
/// even `i` deletes a user, asserting every answer.
async fn user_life(app: &TestApp, i: usize) {
    let body = json!({ "email": format!("pooled{i}@example.com"), "name": format!("Pooled {i}") });
    let key = format!("pooled-{i}-{}", uuid::Uuid::new_v4());
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/api/v1/users"))
            .header("idempotency-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0], answers[1], "a replay answers as the first time");
    let path = format!("/api/v1/users/{}", answers[0]["id"].as_str().unwrap());
    let read = app.get(&path).await;
    assert_eq!(read.status(), StatusCode::OK);
    let renamed = app
        .patch_json(&path, &json!({ "name": format!("Renamed {i}") }))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    if i.is_multiple_of(2) {
        assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    }
}
