//! The outbox and its delivery worker, against real PostgreSQL and a real
//! webhook receiver started in the test: signing, retries, dead events and
//! their re-drive, the breaker, panics, leases, and shutdown. Events are
//! written through the repository's own insert, as any resource's
//! transaction writes them (`thing.happened`, arbitrary data).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use service::outbox::OutboxStore;
use tokio_util::sync::CancellationToken;

use self::support::async_trait_shim::PanicOn;
use self::support::{
    app_without_worker, events, loop_fault, outbox_store, spawn_worker, total_attempts,
    until_events, until_pending_with_error, with_webhook, worker,
};
use crate::helpers::{TestApp, enqueue_event, enqueue_events};
use crate::webhook_receiver::{Receiver, Reply};

mod generic;
pub mod support;

#[tokio::test]
async fn an_event_is_delivered_signed_with_a_stable_id() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = with_webhook(TestApp::builder(), &receiver).spawn().await;
    let data = json!({ "thing": "signed", "count": 3 });
    let id = enqueue_event(&app.db, "thing.happened", data.clone()).await;

    let received = receiver.until_received(1).await;
    let delivered = until_events(&app, "delivered", 1).await;
    let request = &received[0];
    assert!(request.signature_is_valid(), "signature did not verify");
    assert_eq!(request.webhook_id(), delivered[0]["id"]);
    assert_eq!(request.webhook_id(), id.to_string());
    let timestamp: i64 = request.headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - timestamp).abs() < 30, "stale webhook-timestamp");
    assert!(request.headers.contains_key("traceparent"));
    let body = request.json();
    assert_eq!(body["type"], "thing.happened");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["data"], data);
    assert_eq!(delivered[0]["attempts"], 1);
}

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_until_delivered() {
    let receiver =
        Receiver::start([Reply::status(500), Reply::status(503)], Reply::status(200)).await;
    let app = with_webhook(TestApp::builder(), &receiver).spawn().await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let delivered = until_events(&app, "delivered", 1).await;
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let ids: HashSet<_> = received.iter().map(|r| r.webhook_id()).collect();
    assert_eq!(ids.len(), 1, "the webhook-id is stable across retries");
    assert_eq!(delivered[0]["attempts"], 3);
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_retry_after() {
    let throttled = Reply {
        status: 429,
        retry_after: Some("1"),
        delay: Duration::ZERO,
    };
    let receiver = Receiver::start([throttled], Reply::status(204)).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .var("WEBHOOK_BACKOFF_CAP", "5s")
        .spawn()
        .await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let received = receiver.until_received(2).await;
    let waited = received[1].at - received[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    until_events(&app, "delivered", 1).await;
}

#[tokio::test]
async fn a_400_is_dead_at_once() {
    let receiver = Receiver::start([], Reply::status(400)).await;
    let app = with_webhook(TestApp::builder(), &receiver).spawn().await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let dead = until_events(&app, "dead", 1).await;
    assert_eq!(dead[0]["attempts"], 1);
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("400"),
        "{}",
        dead[0]
    );
    // Several poll intervals later, still exactly one request.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_hanging_receiver_hits_the_attempt_timeout_and_the_event_stays_pending() {
    let hang = Reply {
        status: 204,
        retry_after: None,
        delay: Duration::from_secs(30),
    };
    let receiver = Receiver::start([], hang).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .var("WEBHOOK_TIMEOUT", "300ms")
        .var("WEBHOOK_BACKOFF_BASE", "5s")
        .var("WEBHOOK_BACKOFF_CAP", "5s")
        .spawn()
        .await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pending = loop {
        let pending = events(&app, "pending").await;
        if pending.first().is_some_and(|e| e["attempts"] == 1) {
            break pending;
        }
        assert!(Instant::now() < deadline, "the attempt never timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the attempt outlived its timeout"
    );
    assert!(
        pending[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{}",
        pending[0]
    );
}

#[tokio::test]
async fn dead_events_are_kept_listed_and_can_be_redriven() {
    let receiver = Receiver::start([], Reply::status(500)).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .var("WEBHOOK_MAX_ATTEMPTS", "2")
        .spawn()
        .await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let dead = until_events(&app, "dead", 1).await;
    assert_eq!(dead[0]["attempts"], 2);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts")
    );
    let id = dead[0]["id"].as_str().unwrap();

    receiver.answer(Reply::status(204));
    let url = app.admin_url(&format!("/admin/outbox/{id}/retry"));
    let response = app.client.post(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "id": id, "status": "pending" })
    );
    let delivered = until_events(&app, "delivered", 1).await;
    assert_eq!(delivered[0]["id"], id);
    // Only dead events can be re-driven.
    let again = app.client.post(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let bad = app
        .client
        .get(app.admin_url("/admin/outbox?status=lost"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_breaker_opens_stops_calls_half_opens_and_closes() {
    let receiver = Receiver::start([], Reply::status(500)).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .var("BREAKER_WINDOW", "2")
        .var("BREAKER_MIN_CALLS", "2")
        .var("BREAKER_FAILURE_RATE", "1.0")
        .var("BREAKER_COOL_DOWN", "1s")
        .var("BREAKER_HALF_OPEN_CALLS", "1")
        .var("WEBHOOK_MAX_ATTEMPTS", "100")
        .spawn()
        .await;
    for i in 0..3 {
        enqueue_event(&app.db, "thing.happened", json!({ "n": i })).await;
    }
    receiver.until_received(2).await;
    // Open (as soon as the worker has recorded the second failure): no
    // calls for the cool-down, and no attempts spent.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !app
        .metrics()
        .await
        .contains(r#"circuit_breaker_state{breaker="webhook"} 2"#)
    {
        assert!(Instant::now() < deadline, "the breaker never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls_when_opened = receiver.received().len();
    let attempts_when_opened = total_attempts(&app).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.received().len(),
        calls_when_opened,
        "called while open"
    );
    assert_eq!(
        total_attempts(&app).await,
        attempts_when_opened,
        "attempts spent while open"
    );

    // After the cool-down one trial passes; it succeeds and the breaker
    // closes, so everything is delivered.
    receiver.answer(Reply::status(204));
    until_events(&app, "delivered", 3).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"circuit_breaker_state{breaker="webhook"} 0"#),
        "{metrics}"
    );
    for to in ["open", "half_open", "closed"] {
        assert!(
            metrics.contains(&format!(
                r#"circuit_breaker_transitions_total{{breaker="webhook",to="{to}"}}"#
            )),
            "no transition to {to}:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_panic_in_one_event_leaves_the_others_delivered() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = app_without_worker().await;
    let data: Vec<_> = (0..4)
        .map(|i| ("thing.happened", json!({ "id": format!("p{i}") })))
        .collect();
    let ids = enqueue_events(&app.db, &data).await;
    let poisoned = "p1".to_owned();
    let cancel = CancellationToken::new();
    let worker = worker(&app, &receiver, |inner| {
        Arc::new(PanicOn {
            inner,
            data_id: poisoned.clone(),
        })
    });
    let task = spawn_worker(worker, &cancel);
    until_events(&app, "delivered", 3).await;
    let pending = until_pending_with_error(&app, "panicked").await;
    assert_eq!(pending["id"], ids[1].to_string());
    cancel.cancel();
    task.await.unwrap();
    let delivered: HashSet<_> = receiver
        .received()
        .iter()
        .map(|r| r.json()["data"]["id"].clone())
        .collect();
    assert_eq!(delivered.len(), 3);
    assert!(!delivered.contains(&Value::String(poisoned)));
}

#[tokio::test]
async fn two_workers_on_one_database_deliver_each_event_once() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = app_without_worker().await;
    let count = 20;
    let data: Vec<_> = (0..count)
        .map(|i| ("thing.happened", json!({ "n": i })))
        .collect();
    enqueue_events(&app.db, &data).await;
    let cancel = CancellationToken::new();
    let first = spawn_worker(worker(&app, &receiver, |s| s), &cancel);
    let second = spawn_worker(worker(&app, &receiver, |s| s), &cancel);
    until_events(&app, "delivered", count).await;
    // A few more poll rounds: nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    first.await.unwrap();
    second.await.unwrap();
    let received = receiver.received();
    let ids: HashSet<_> = received.iter().map(|r| r.webhook_id()).collect();
    assert_eq!((received.len(), ids.len()), (count, count));
}

#[tokio::test]
async fn an_event_claimed_by_a_worker_that_died_is_redelivered_after_the_lease() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = app_without_worker().await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    // A worker claims the event and dies before acknowledging it.
    let store = outbox_store(&app);
    let lease = Duration::from_millis(800);
    let claimed_at = Instant::now();
    let claimed = store.claim(10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(claimed);

    let cancel = CancellationToken::new();
    let task = spawn_worker(worker(&app, &receiver, |s| s), &cancel);
    let received = receiver.until_received(1).await;
    cancel.cancel();
    task.await.unwrap();
    assert!(
        received[0].at - claimed_at >= lease,
        "delivered while still leased"
    );
    let delivered = until_events(&app, "delivered", 1).await;
    assert_eq!(
        received[0].webhook_id(),
        delivered[0]["id"],
        "same webhook-id on redelivery"
    );
}

#[tokio::test]
async fn shutdown_with_deliveries_in_flight_loses_nothing() {
    let slow = Reply {
        status: 204,
        retry_after: None,
        delay: Duration::from_millis(300),
    };
    let receiver = Receiver::start([], slow).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .var("OUTBOX_BATCH_SIZE", "5")
        .spawn()
        .await;
    // Three batches and more, written at once: at most one batch is in
    // hand when the stop comes after the first delivery.
    let count = 16;
    let data: Vec<_> = (0..count)
        .map(|i| ("thing.happened", json!({ "n": i })))
        .collect();
    enqueue_events(&app.db, &data).await;
    receiver.until_received(1).await;
    let store = outbox_store(&app);
    let mut app = app;
    let stopped = app.shut_down().await;
    assert!(
        stopped.is_clean(),
        "the delivery in hand finished within the deadline"
    );

    // Nothing was marked delivered that the receiver did not accept, and
    // nothing is lost: the rest is pending, and delivered after a restart.
    let delivered_now = store
        .list(Some(service::outbox::EventStatus::Delivered), 100)
        .await
        .unwrap();
    let accepted: HashSet<_> = receiver.received().iter().map(|r| r.webhook_id()).collect();
    for event in &delivered_now {
        assert!(accepted.contains(&event.id.to_string()));
    }
    let pending = store
        .list(Some(service::outbox::EventStatus::Pending), 100)
        .await
        .unwrap();
    assert_eq!(delivered_now.len() + pending.len(), count);
    assert!(
        !pending.is_empty(),
        "the test stopped too late to see anything in flight"
    );

    // "Restart": a worker on the same database delivers the rest.
    let cancel = CancellationToken::new();
    let task = spawn_worker(worker(&app, &receiver, |s| s), &cancel);
    let deadline = Instant::now() + Duration::from_secs(15);
    while store
        .list(Some(service::outbox::EventStatus::Delivered), 100)
        .await
        .unwrap()
        .len()
        < count
    {
        assert!(
            Instant::now() < deadline,
            "not everything was delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    task.await.unwrap();
    let ids: HashSet<_> = receiver.received().iter().map(|r| r.webhook_id()).collect();
    assert_eq!(ids.len(), count);
}

#[tokio::test]
async fn a_worker_loop_that_dies_is_restarted_and_counted() {
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = app_without_worker().await;
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let store = outbox_store(&app);
    // The loop's first claim panics (outside any one event's isolation),
    // as a bug in the loop itself would.
    let flaky: Arc<dyn OutboxStore> = Arc::new(loop_fault::PanicOnFirstClaim::new(store));
    let real = worker(&app, &receiver, |s| s);
    let worker = Arc::new(real.with_outbox(flaky));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(service::outbox::supervise(worker, cancel.clone()));
    receiver.until_received(1).await;
    until_events(&app, "delivered", 1).await;
    cancel.cancel();
    task.await.unwrap();
    let metrics = app.metrics().await;
    assert!(metrics.contains("worker_restarts_total 1"), "{metrics}");
}
