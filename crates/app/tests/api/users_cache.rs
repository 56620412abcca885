//! The read cache: cache-aside on `GET /api/v1/users/{id}`, never stale after
//! a write, and never the cause of an error or of unbounded latency.

use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    BlackHole, Cache, Proxy, TestApp, UsersApi as _, assert_problem, closed_port, redis_url,
    server_addr,
};

#[tokio::test]
async fn a_read_fills_the_cache_and_later_reads_are_served_from_it() {
    let app = TestApp::spawn().await;
    let user = app.create_user("cached@example.com", "Cached").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    let mut redis = app.redis().await;

    assert!(
        app.cached_user(id).await.is_none(),
        "creation does not fill the cache"
    );
    // The first read finds no epoch yet and starts one; the next fills.
    for _ in 0..2 {
        assert_eq!(app.get(&path).await.json::<Value>().await.unwrap(), user);
    }
    assert_eq!(
        app.cached_user(id).await.as_ref(),
        Some(&user),
        "the read filled the cache"
    );
    let ttl: i64 = redis.pttl(app.cache_key(id)).await.unwrap();
    assert!(ttl > 0, "entries expire");

    // Change the row behind the service's back: the next read still comes
    // from the cache, which proves the cache is what answers.
    let pool = app.db.pool().await;
    sqlx::query("UPDATE users SET name = 'Changed behind the back' WHERE id = $1::uuid")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["name"], "Cached");
}

#[tokio::test]
async fn reads_after_patch_and_delete_are_never_stale() {
    let app = TestApp::spawn().await;
    let user = app.create_user("fresh@example.com", "v0").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.status(), StatusCode::OK); // cached

    for version in 1..=5 {
        let name = format!("v{version}");
        let patched = app.patch_json(&path, &json!({ "name": name })).await;
        assert_eq!(patched.status(), StatusCode::OK);
        // Twice: the first read refills the cache, the second reads it.
        for _ in 0..2 {
            let fetched: Value = app.get(&path).await.json().await.unwrap();
            assert_eq!(fetched["name"], name);
        }
    }

    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_fill_older_than_an_invalidation_is_refused() {
    // The race cache-aside is known for: a reader loads the row, a writer
    // commits and invalidates, then the reader fills the cache with the old
    // row. The versioned cache refuses that fill.
    let app = TestApp::spawn().await;
    let user = app.create_user("race@example.com", "Old").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    // Two reads: the first starts the epoch, the second caches the user.
    for _ in 0..2 {
        assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    }

    let patched: Value = app
        .patch_json(&path, &json!({ "name": "New" }))
        .await
        .json()
        .await
        .unwrap();
    let (epoch, invalidated_at, data) = app.cache_entry(id).await.unwrap();
    assert!(data.is_empty(), "the invalidation left a marker");

    // Replay the slow reader's late fill with the old row, through the same
    // script the application uses.
    let settings = config::Settings::from_vars([
        ("DATABASE_URL", "postgres://unused@127.0.0.1/unused"),
        ("REDIS_URL", redis_url().as_str()),
        ("CACHE_KEY_PREFIX", app.cache_prefix.as_str()),
    ])
    .unwrap();
    let cache = repository::cache::RedisUserCache::new(
        repository::redis::RedisCache::new(settings.cache.as_ref().unwrap()).unwrap(),
    );
    let old = service::users::User {
        id: service::users::UserId::from_uuid(id.parse().unwrap()),
        email: service::users::Email::parse("race@example.com").unwrap(),
        name: service::users::UserName::parse("Old").unwrap(),
        created_at: time::OffsetDateTime::parse(
            user["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap(),
        updated_at: time::OffsetDateTime::parse(
            user["updated_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap(),
    };
    use service::users::UserCache as _;
    // The reader saw the current epoch before loading the old row.
    let epoch = service::cache::CacheEpoch(epoch);
    cache
        .fill(&old, &epoch, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        app.cached_user(id).await.is_none(),
        "the stale fill was refused"
    );
    assert_eq!(invalidated_at, patched_version(&patched));

    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["name"], "New");
}

fn patched_version(user: &Value) -> String {
    let updated = time::OffsetDateTime::parse(
        user["updated_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (updated.unix_timestamp_nanos() / 1_000).to_string()
}

/// The whole users API still answers, without server errors and within a
/// bound, when Redis is `cache`.
async fn api_works_without_redis(cache: Cache, bound: Duration) {
    let app = TestApp::builder()
        .cache(cache)
        .var("CACHE_TIMEOUT", "100ms")
        .spawn()
        .await;
    let user = app.create_user("noredis@example.com", "No Redis").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.get(&path).await;
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap(), user);
        assert!(elapsed < bound, "GET took {elapsed:?}");
    }
    let started = Instant::now();
    let patched = app
        .patch_json(&path, &json!({ "name": "Still works" }))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert!(
        started.elapsed() < bound,
        "PATCH took {:?}",
        started.elapsed()
    );
    let fetched: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(fetched["name"], "Still works");
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn redis_on_a_closed_port_costs_nothing_but_a_miss() {
    let port = closed_port().await;
    api_works_without_redis(
        Cache::At(format!("redis://{port}")),
        Duration::from_millis(1500),
    )
    .await;
}

#[tokio::test]
async fn a_hung_redis_adds_at_most_the_cache_timeout() {
    // Accepts connections and never answers. Each GET makes two cache calls
    // (read, fill) of at most CACHE_TIMEOUT (100ms) each.
    let hole = BlackHole::start().await;
    api_works_without_redis(
        Cache::At(format!("redis://{}", hole.addr)),
        Duration::from_millis(1500),
    )
    .await;
}

#[tokio::test]
async fn the_cache_reconnects_when_redis_returns() {
    let proxy = Proxy::start(server_addr(&redis_url(), 6379)).await;
    let app = TestApp::builder()
        .cache(Cache::At(format!("redis://{}", proxy.addr)))
        .var("CACHE_TIMEOUT", "100ms")
        .spawn()
        .await;
    let user = app.create_user("flaky@example.com", "Flaky").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    let mut redis = app.redis().await;

    for _ in 0..2 {
        assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    }
    assert!(
        app.cached_user(id).await.is_some(),
        "filled while Redis was up"
    );

    proxy.cut();
    let _: () = redis.del(app.cache_key(id)).await.unwrap();
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    }
    assert!(
        app.cache_entry(id).await.is_none(),
        "nothing reaches Redis while it is cut off"
    );

    proxy.restore();
    // The connection manager reconnects on the next commands; poll (each
    // round is a real request) until a read fills the cache again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(app.get(&path).await.status(), StatusCode::OK);
        if app.cached_user(id).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the cache never came back");
    }
}
