//! The outbox is generic: the worker sends what was written and knows no
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
use crate::helpers::{TestApp, assert_problem, enqueue_event, enqueue_events};
use crate::webhook_receiver::{Receiver, Reply};

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
    enqueue_events(
        &app.db,
        &[
            ("thing.happened", json!({ "n": 0 })),
            ("thing.happened", json!({ "n": 1 })),
        ],
    )
    .await;

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
        enqueue_event(&app.db, "thing.created", json!({ "n": i })).await;
        enqueue_event(&app.db, "thing.updated", json!({ "n": i })).await;
    }
    // Six dead events: three thing.created an hour old, three
    // thing.updated a minute old.
    sqlx::query(
        "UPDATE outbox_events SET status = 'dead', attempts = 10, last_error = 'gave up',
             finished_at = now(),
             created_at = now() - CASE WHEN event_type = 'thing.created'
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

    assert_eq!(count(redrive("?type=thing.updated").await).await, 1 + 2);
    assert_eq!(events(&app, "pending").await.len(), 3);
    let half_hour_ago = (time::OffsetDateTime::now_utc() - time::Duration::minutes(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    // Only those written before half an hour ago, and only one type: one
    // call, one statement, the count in the answer.
    assert_eq!(
        count(redrive(&format!("?type=thing.created&before={half_hour_ago}")).await).await,
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
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let received = receiver.until_received(1).await;
    let latency = received[0].at - created;
    assert!(
        latency < Duration::from_secs(5),
        "delivered after {latency:?}: the worker waited for its poll"
    );
}
