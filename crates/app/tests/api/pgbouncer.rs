//! Many replicas, one database: the service behind a real PgBouncer 1.18 in
//! transaction pooling mode (`DATABASE_TRANSACTION_POOLER=true`), where a
//! server connection is lent for one transaction and then to someone else.
//! The admin routes and the outbox work while more clients than server
//! connections take turns; the outbox worker is woken
//! over a direct `OUTBOX_LISTEN_URL` or polls; the statement timeout
//! holds; and without the setting PgBouncer refuses the service's
//! connections.

pub mod server;

use std::time::{Duration, Instant};

use config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Cache, TestApp, TestAppBuilder, TestDb, assert_problem, enqueue_event, enqueue_events,
    lock_outbox,
};
use crate::outbox::support::{until_events, with_webhook};
use crate::webhook_receiver::{Receiver, Reply};
use server::PgBouncer;

/// Server connections PgBouncer lends per database: fewer than the
/// service's pool, so clients must share them transaction by transaction.
pub const SERVER_CONNECTIONS: u32 = 2;

/// The application behind `bouncer` in transaction-pooling mode, without
/// a cache: each test adds what it is about.
pub fn behind(bouncer: &PgBouncer) -> TestAppBuilder {
    TestApp::builder()
        .database_via(bouncer.addr)
        .cache(Cache::Off)
        .var("DATABASE_TRANSACTION_POOLER", "true")
}

#[tokio::test]
async fn the_admin_routes_and_the_outbox_work_through_transaction_pooling() {
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    // Refused at first, so every event is dead after one attempt.
    let receiver = Receiver::start([], Reply::status(400)).await;
    let app = with_webhook(behind(&bouncer), &receiver)
        .var("DATABASE_MAX_CONNECTIONS", "8")
        .var("OUTBOX_POLL_INTERVAL", "100ms")
        .spawn()
        .await;
    let data: Vec<_> = (0..16)
        .map(|i| ("thing.happened", json!({ "n": i })))
        .collect();
    let ids = enqueue_events(&app.db, &data).await;
    until_events(&app, "dead", 16).await;
    receiver.answer(Reply::status(204));

    // Sixteen clients at once, each listing and re-driving its own event:
    // far more statements in flight than server connections, every one
    // prepared and run on whichever connection the pooler lends, while
    // the worker claims and marks what they put back.
    let app = std::sync::Arc::new(app);
    let clients = ids.iter().map(|id| {
        let (app, id) = (std::sync::Arc::clone(&app), *id);
        tokio::spawn(async move { redrive_one(&app, id).await })
    });
    for client in futures::future::join_all(clients).await {
        client.unwrap();
    }

    // 16 refused, then 16 delivered by a worker that polls (no LISTEN
    // through the pooler).
    let delivered = until_events(&app, "delivered", 16).await;
    assert_eq!(delivered.len(), 16);
    assert_eq!(receiver.until_received(32).await.len(), 32);

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

/// Lists the dead events, re-drives `id`, and re-drives it again (no
/// longer dead: `404`), asserting every answer.
async fn redrive_one(app: &TestApp, id: uuid::Uuid) {
    let listed = app
        .client
        .get(app.admin_url("/admin/outbox?status=dead&limit=1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.to_string()),
        "{listed}"
    );
    let url = app.admin_url(&format!("/admin/outbox/{id}/retry"));
    let retried = app.client.post(&url).send().await.unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    let again = app.client.post(&url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_direct_listen_url_wakes_the_worker_behind_the_pooler() {
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    let receiver = Receiver::start([], Reply::status(204)).await;
    let db = TestDb::create().await;
    let direct = db.url(None);
    let app = with_webhook(behind(&bouncer), &receiver)
        .db(db)
        .var("OUTBOX_LISTEN_URL", &direct)
        .var("OUTBOX_POLL_INTERVAL", "1m")
        .spawn()
        .await;
    until_listening(&app).await;
    let created = Instant::now();
    enqueue_event(&app.db, "thing.happened", json!({ "n": 1 })).await;
    let received = receiver.until_received(1).await;
    assert!(
        received[0].at - created < Duration::from_secs(5),
        "the worker waited for its one-minute poll"
    );
}

/// Until the worker's `LISTEN` connection is up (it was woken once, when
/// it started listening, with nothing to claim).
async fn until_listening(app: &TestApp) {
    let direct = app.db.pool().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening: bool = sqlx::query_scalar(
            "SELECT exists(SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%')",
        )
        .bind(&app.db.name)
        .fetch_one(&direct)
        .await
        .unwrap();
        if listening {
            return;
        }
        assert!(Instant::now() < deadline, "the worker never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_statement_timeout_holds_behind_the_pooler_and_no_prepared_statement_piles_up() {
    // PgBouncer refuses the start-up parameter the timeout travels in
    // straight to PostgreSQL; behind it, every transaction sets it.
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    let app = behind(&bouncer)
        .var("DATABASE_STATEMENT_TIMEOUT", "300ms")
        .spawn()
        .await;
    let listing = app.admin_url("/admin/outbox");
    let redrive = app.admin_url("/admin/outbox/redrive");
    let lock = lock_outbox(&app.db).await;
    let started = Instant::now();
    let response = app.client.get(&listing).send().await.unwrap();
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    lock.rollback().await.unwrap();

    // Hundreds of statements later, the pooler's server connections hold
    // no more prepared statements than one transaction prepares.
    for _ in 0..50 {
        let response = app.client.post(&redrive).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.client.get(&listing).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let prepared = prepared_statements_on_server_connections(&bouncer, &app.db).await;
    assert!(
        prepared <= 8,
        "{prepared} prepared statements left on one server connection"
    );
}

/// The most prepared statements any of `bouncer`'s server connections to
/// `db` holds, read through the pooler itself (so on one of them).
async fn prepared_statements_on_server_connections(bouncer: &PgBouncer, db: &TestDb) -> i64 {
    let mut most = 0;
    for _ in 0..SERVER_CONNECTIONS * 4 {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&bouncer.url(&db.name))
            .await
            .unwrap();
        let count: i64 = sqlx::raw_sql("SELECT count(*) FROM pg_prepared_statements")
            .fetch_one(&mut conn)
            .await
            .map(|row| sqlx::Row::get::<i64, _>(&row, 0))
            .unwrap();
        most = most.max(count);
    }
    most
}

#[tokio::test]
async fn without_the_setting_pgbouncer_refuses_the_connections_and_migrations_refuse_the_pooler() {
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    let app = TestApp::builder()
        .database_via(bouncer.addr)
        .cache(Cache::Off)
        .var("DATABASE_ACQUIRE_TIMEOUT", "500ms")
        .spawn()
        .await;
    // The statement timeout travels as the `options` start-up parameter,
    // which PgBouncer 1.18 refuses.
    let response = app
        .client
        .post(app.admin_url("/admin/outbox/redrive"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        bouncer
            .log()
            .contains("unsupported startup parameter: options"),
        "{}",
        bouncer.log()
    );

    // Migrations hold a session-level advisory lock: refused at once
    // through a transaction pooler, before connecting.
    let settings = pooled_settings(&app.db, &bouncer);
    let err = repository::database::migrate(&settings.database)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("straight to PostgreSQL"),
        "{err:#}"
    );
}

/// Settings for `db` through `bouncer`, as a pooled deployment has them.
fn pooled_settings(db: &TestDb, bouncer: &PgBouncer) -> Settings {
    let url = bouncer.url(&db.name);
    Settings::from_vars([
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_TRANSACTION_POOLER", "true"),
    ])
    .unwrap()
}
