//! Many replicas, one database: the service behind a real PgBouncer 1.18 in
//! transaction pooling mode (`DATABASE_TRANSACTION_POOLER=true`), where a
//! server connection is lent for one transaction and then to someone else.
//! The whole API, idempotent creation and the outbox work while more
//! clients than server connections take turns; the outbox worker is woken
//! over a direct `OUTBOX_LISTEN_URL` or polls; the statement timeout
//! holds; and without the setting PgBouncer refuses the service's
//! connections.

mod server;

use std::time::{Duration, Instant};

use config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Cache, TestApp, TestDb, UsersApi as _, assert_problem, lock_user_row};
use crate::outbox::support::with_webhook;
use crate::webhook_receiver::{Receiver, Reply};
use server::PgBouncer;

/// Server connections PgBouncer lends per database: fewer than the
/// service's pool, so clients must share them transaction by transaction.
const SERVER_CONNECTIONS: u32 = 2;

#[tokio::test]
async fn the_api_idempotent_creation_and_the_outbox_work_through_transaction_pooling() {
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    let receiver = Receiver::start([], Reply::status(204)).await;
    let app = with_webhook(TestApp::builder(), &receiver)
        .database_via(bouncer.addr)
        .cache(Cache::Off)
        .var("DATABASE_TRANSACTION_POOLER", "true")
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

#[tokio::test]
async fn a_direct_listen_url_wakes_the_worker_behind_the_pooler() {
    let bouncer = PgBouncer::start(SERVER_CONNECTIONS).await;
    let receiver = Receiver::start([], Reply::status(204)).await;
    let db = TestDb::create().await;
    let direct = db.url(None);
    let app = with_webhook(TestApp::builder(), &receiver)
        .database_via(bouncer.addr)
        .db(db)
        .cache(Cache::Off)
        .var("DATABASE_TRANSACTION_POOLER", "true")
        .var("OUTBOX_LISTEN_URL", &direct)
        .var("OUTBOX_POLL_INTERVAL", "1m")
        .spawn()
        .await;
    until_listening(&app).await;
    let created = Instant::now();
    app.create_user("listen@example.com", "Listen").await;
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
    let app = TestApp::builder()
        .database_via(bouncer.addr)
        .cache(Cache::Off)
        .var("DATABASE_TRANSACTION_POOLER", "true")
        .var("DATABASE_STATEMENT_TIMEOUT", "300ms")
        .spawn()
        .await;
    let user = app.create_user("blocked@example.com", "Blocked").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    let lock = lock_user_row(&app.db, id).await;
    let started = Instant::now();
    let response = app.patch_json(&path, &json!({ "name": "Waits" })).await;
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    lock.rollback().await.unwrap();

    // Hundreds of statements later, the pooler's server connections hold
    // no more prepared statements than one transaction prepares.
    for i in 0..50 {
        let response = app
            .patch_json(&path, &json!({ "name": format!("Free {i}") }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(app.get(&path).await.status(), StatusCode::OK);
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
        .post_json(
            "/api/v1/users",
            &json!({ "email": "a@example.com", "name": "A" }),
        )
        .await;
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
