//! The users example's events: every write emits one carrying the data as
//! written, and events the previous release wrote (only a user's id) are
//! delivered with the user's data after the upgrade.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{TestApp, TestDb, UsersApi as _};
use crate::outbox::support::{app_without_worker, events, spawn_worker, with_webhook, worker};
use crate::webhook_receiver::{Received, Receiver, Reply};

#[tokio::test]
async fn every_write_emits_an_event_carrying_the_data_as_written() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = app_without_worker().await;
    let user = app.create_user("ada@example.com", "Ada").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    let patched = app
        .patch_json(&path, &json!({"name": "Ada Lovelace"}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);

    // Delivered only now, after the user is gone: each event still carries
    // what was true when it was written.
    let cancel = CancellationToken::new();
    let task = spawn_worker(worker(&app, &receiver, |s| s), &cancel);
    let received = receiver.until_received(3).await;
    cancel.cancel();
    task.await.unwrap();
    let body = |event_type: &str| -> Value {
        let found: Vec<Value> = received
            .iter()
            .map(Received::json)
            .filter(|b| b["type"] == event_type)
            .collect();
        assert_eq!(found.len(), 1, "{event_type}: {found:?}");
        found[0].clone()
    };
    let created = body("user.created");
    assert_eq!(created["data"]["name"], "Ada");
    assert_eq!(created["data"]["email"], "ada@example.com");
    assert_eq!(created["data"]["id"], id);
    let updated = body("user.updated");
    assert_eq!(updated["data"]["name"], "Ada Lovelace");
    let deleted = body("user.deleted");
    assert_eq!(deleted["data"], json!({ "id": id }));
    assert!(received.iter().all(Received::signature_is_valid));
    assert!(events(&app, "skipped").await.is_empty());
}

#[tokio::test]
async fn pending_events_written_before_the_upgrade_are_delivered_after_it() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    // Back to the schema of the previous release, whose events carried only
    // the user's id.
    repository::database::MIGRATOR
        .undo(&pool, 20_261_122_000_002)
        .await
        .unwrap();
    let user = Uuid::now_v7();
    let gone = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, name, created_at, updated_at)
         VALUES ($1, 'old@example.com', 'Old', now(), now())",
    )
    .bind(user)
    .execute(&pool)
    .await
    .unwrap();
    for aggregate in [user, gone] {
        sqlx::query(
            "INSERT INTO outbox_events (id, event_type, aggregate_id, next_attempt_at, created_at)
             VALUES ($1, 'user.created', $2, now(), now())",
        )
        .bind(Uuid::now_v7())
        .bind(aggregate)
        .execute(&pool)
        .await
        .unwrap();
    }
    repository::database::MIGRATOR.run(&pool).await.unwrap();
    // The previous release, still serving during the rollout, writes an
    // event without data: it gets its data in the same statement.
    sqlx::query(
        "INSERT INTO outbox_events (id, event_type, aggregate_id, next_attempt_at, created_at)
         VALUES ($1, 'user.created', $2, now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .execute(&pool)
    .await
    .unwrap();

    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .database_url(db.url(None))
        .spawn()
        .await;
    let received = receiver.until_received(2).await;
    for request in &received {
        let body = request.json();
        assert_eq!(body["type"], "user.created");
        assert_eq!(body["data"]["email"], "old@example.com", "{body}");
        assert_eq!(body["data"]["id"], user.to_string());
    }
    let skipped = events(&app, "skipped").await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["aggregate_id"], gone.to_string());
}
