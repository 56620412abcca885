//! `Idempotency-Key` on `POST /api/v1/users`: one effect per key, the same
//! answer for every replay, refusals for a reused key and a key still in
//! flight, and expiry.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use service::idempotency::IdempotencyStore as _;

use crate::helpers::{TestApp, assert_problem, error_fields};

async fn post(app: &TestApp, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/api/v1/users"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn users_named(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db.pool().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn sixteen_parallel_requests_with_one_key_create_one_user_and_get_one_answer() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "once@example.com", "name": "Once"});
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/api/v1/users"))
                .header("idempotency-key", "key-0001")
                .json(&body);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    let mut replayed = 0;
    for task in tasks {
        let response = task.await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        if response.headers().contains_key("idempotent-replayed") {
            replayed += 1;
        }
        answers.push((location, response.bytes().await.unwrap()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "answers differ");
    assert_eq!(replayed, 15, "one first answer, fifteen replays");
    assert_eq!(users_named(&app, "once@example.com").await, 1);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_events")
        .fetch_one(&app.db.pool().await)
        .await
        .unwrap();
    assert_eq!(events, 1, "one effect, one event");
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused() {
    let app = TestApp::spawn().await;
    let first = post(
        &app,
        "key-0002",
        &json!({"email": "a@example.com", "name": "A"}),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let other = post(
        &app,
        "key-0002",
        &json!({"email": "b@example.com", "name": "B"}),
    )
    .await;
    let problem = assert_problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
    assert_eq!(users_named(&app, "b@example.com").await, 0);
    // Without a key, or with another, the same body is an ordinary request.
    let fresh = post(
        &app,
        "key-0003",
        &json!({"email": "b@example.com", "name": "B"}),
    )
    .await;
    assert_eq!(fresh.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_duplicate_of_a_request_still_in_flight_gets_409_with_retry_after() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "slow@example.com", "name": "Slow"});
    // Hold the first request inside its transaction: it has claimed the
    // key and waits to insert the user.
    let pool = app.db.pool().await;
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE users IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let first = {
        let request = app
            .client
            .post(app.url("/api/v1/users"))
            .header("idempotency-key", "key-0004")
            .json(&body);
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    // Wait until the first holds the key and waits for the table.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted")
            .fetch_one(&pool)
            .await
            .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first request never blocked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let duplicate = post(&app, "key-0004", &body).await;
    assert!(duplicate.headers().contains_key("retry-after"));
    let problem = assert_problem(duplicate, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "/problems/in-flight");

    blocker.rollback().await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body: Value = first.json().await.unwrap();
    let replay = post(&app, "key-0004", &body).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.json::<Value>().await.unwrap(), first_body);
}

#[tokio::test]
async fn keys_expire_and_are_purged() {
    let app = TestApp::builder()
        .var("IDEMPOTENCY_TTL", "1h")
        .spawn()
        .await;
    let body = json!({"email": "ttl@example.com", "name": "Ttl"});
    let first: Value = post(&app, "key-0005", &body).await.json().await.unwrap();
    let pool = app.db.pool().await;
    let expires_in: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - now())::float8 FROM idempotency_keys",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!((3500.0..=3600.0).contains(&expires_in), "{expires_in}");

    // Once expired, the key is a new key: the same body is a new request
    // (a 409 here: the address is taken by the first user).
    sqlx::query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let again = post(&app, "key-0005", &body).await;
    assert_problem(again, StatusCode::CONFLICT).await;
    assert_eq!(users_named(&app, "ttl@example.com").await, 1);
    assert!(first["id"].is_string());

    let store = repository::idempotency::PgIdempotencyStore::new(
        repository::database::Pool::direct(pool.clone()),
    );
    assert_eq!(store.purge_expired(100).await.unwrap(), 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_malformed_key_is_a_400_naming_the_header() {
    let app = TestApp::spawn().await;
    for key in ["", &"k".repeat(256), "has space"] {
        let response = post(
            &app,
            key,
            &json!({"email": "bad@example.com", "name": "Bad"}),
        )
        .await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), ["Idempotency-Key"], "{key:?}");
    }
}
