//! The outbox is generic: events carry their type and data from the moment
//! they are written, the worker sends what was written and knows no
//! resource, a row it cannot send is dead alone, dead events are re-driven
//! in bulk, and `NOTIFY` wakes the worker without waiting for the poll.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::support::{
    app_without_worker, events, spawn_worker, until_events, with_webhook, worker,
};
use crate::helpers::{TestApp, TestDb, UsersApi as _, assert_problem};
use crate::webhook_receiver::{Receiver, Reply};

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
            .map(super::super::webhook_receiver::Received::json)
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
    assert!(
        received
            .iter()
            .all(super::super::webhook_receiver::Received::signature_is_valid)
    );
    assert!(events(&app, "skipped").await.is_empty());
}

/// Inserts an event as another release (or a bug) might have written it.
async fn insert_raw(
    app: &TestApp,
    event_type: &str,
    payload: Option<Value>,
    age_secs: f64,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO outbox_events (id, event_type, aggregate_id, payload, next_attempt_at, created_at)
         VALUES ($1, $2, $1, $3, now() - make_interval(secs => $4), now() - make_interval(secs => $4))",
    )
    .bind(id)
    .bind(event_type)
    .bind(payload)
    .bind(age_secs)
    .execute(&app.db.pool().await)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn a_row_that_cannot_be_sent_is_dead_alone_and_its_batch_proceeds() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = app_without_worker().await;
    // Oldest first, so they share the first batch with the good events.
    let bad_type = insert_raw(&app, "Not A Type!", Some(json!({"id": 1})), 60.0).await;
    let bad_data = insert_raw(&app, "order.shipped", Some(json!("ada@example.com")), 59.0).await;
    // A type this build has never heard of, written by a newer release:
    // the worker sends what was written.
    let foreign = insert_raw(&app, "order.shipped", Some(json!({"order": 7})), 58.0).await;
    for i in 0..2 {
        app.create_user(&format!("batch{i}@example.com"), "B").await;
    }

    // The listing never fails because of a row: unknown types as stored.
    let listed = events(&app, "pending").await;
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().any(|e| e["type"] == "Not A Type!"));

    let cancel = CancellationToken::new();
    let task = spawn_worker(worker(&app, &receiver, |s| s), &cancel);
    let delivered = until_events(&app, "delivered", 3).await;
    let dead = until_events(&app, "dead", 2).await;
    cancel.cancel();
    task.await.unwrap();

    let dead_ids: Vec<&str> = dead.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(dead_ids.contains(&bad_type.to_string().as_str()));
    assert!(dead_ids.contains(&bad_data.to_string().as_str()));
    for event in &dead {
        let reason = event["last_error"].as_str().unwrap();
        assert!(reason.starts_with("cannot be sent: "), "{reason}");
        assert!(
            !reason.contains("ada@example.com"),
            "the data was quoted: {reason}"
        );
        assert_eq!(event["attempts"], 1, "{event}");
    }
    assert!(
        delivered.iter().any(|e| e["id"] == foreign.to_string()),
        "{delivered:?}"
    );
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn dead_events_are_redriven_in_bulk_by_type_and_time() {
    let app = app_without_worker().await;
    let pool = app.db.pool().await;
    for i in 0..3 {
        let user = app.create_user(&format!("dead{i}@example.com"), "D").await;
        let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
        app.patch_json(&path, &json!({"name": "E"})).await;
    }
    // Six dead events: three user.created an hour old, three user.updated
    // a minute old.
    sqlx::query(
        "UPDATE outbox_events SET status = 'dead', attempts = 10, last_error = 'gave up',
             finished_at = now(),
             created_at = now() - CASE WHEN event_type = 'user.created'
                                       THEN interval '1 hour' ELSE interval '1 minute' END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let redrive = |query: &str| {
        let url = app.admin_url(&format!("/admin/outbox/redrive{query}"));
        let client = app.client.clone();
        async move { client.post(url).send().await.unwrap() }
    };
    let count = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["redriven"].clone()
    };

    assert_eq!(count(redrive("?type=user.updated").await).await, 1 + 2);
    assert_eq!(events(&app, "pending").await.len(), 3);
    let half_hour_ago = (time::OffsetDateTime::now_utc() - time::Duration::minutes(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    // Only those written before half an hour ago, and only one type: one
    // call, one statement, the count in the answer.
    assert_eq!(
        count(redrive(&format!("?type=user.created&before={half_hour_ago}")).await).await,
        3
    );
    assert!(events(&app, "dead").await.is_empty());
    // Nothing left to re-drive.
    assert_eq!(count(redrive("").await).await, 0);
    // A bad time is a 400 naming the parameter.
    let problem = assert_problem(redrive("?from=yesterday").await, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "from");
}

#[tokio::test]
async fn a_notify_wakes_the_worker_long_before_its_next_poll() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .var("OUTBOX_POLL_INTERVAL", "1m")
        .spawn()
        .await;
    // Let the worker make its first, empty claim and settle into its wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = Instant::now();
    app.create_user("woken@example.com", "W").await;
    let received = receiver.until_received(1).await;
    let latency = received[0].at - created;
    assert!(
        latency < Duration::from_secs(5),
        "delivered after {latency:?}: the worker waited for its poll"
    );
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
