//! The users example's cache over `rediss://`: with a private CA its reads
//! fill and are served from Redis; with the wrong CA they are misses, never
//! errors. TLS itself is covered without the example in `tls.rs`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Cache, TestApp, UsersApi as _};
use crate::tls::TLS_CACHE_TIMEOUT;
use crate::tls::certs::Certs;
use crate::tls::redis_server::{ClientAuth, TlsRedis};

/// Whether reads of a new user go through the cache: two reads (the first
/// starts an epoch, the second fills), the entry as Redis holds it, then
/// a change behind the service's back that only a cached read misses.
/// Every read answers `200` either way.
async fn cache_serves(app: &TestApp, redis: &TlsRedis) -> bool {
    let user = app.create_user("cached-tls@example.com", "Cached").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}");
    for _ in 0..2 {
        let response = app.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap(), user);
    }
    let stored = redis.get(&app.cache_key(id)).await.unwrap().is_some();
    sqlx::query("UPDATE users SET name = 'Changed behind the back' WHERE id = $1::uuid")
        .bind(id)
        .execute(&app.db.pool().await)
        .await
        .unwrap();
    let response = app.get(&path).await;
    assert_eq!(response.status(), StatusCode::OK);
    let served_cached = response.json::<Value>().await.unwrap()["name"] == "Cached";
    assert_eq!(
        stored, served_cached,
        "an entry in Redis and what was served disagree"
    );
    served_cached
}

#[tokio::test]
async fn rediss_with_a_private_ca_fills_and_serves_the_users_cache() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::No).await;
    let app = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .var("REDIS_TLS_CA_FILE", &certs.path_str("ca.crt"))
        .spawn()
        .await;
    assert!(cache_serves(&app, &redis).await);
}

#[tokio::test]
async fn rediss_with_the_wrong_ca_is_a_users_cache_miss_not_an_error() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::No).await;
    let app = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .var("REDIS_TLS_CA_FILE", &certs.path_str("other-ca.crt"))
        .spawn()
        .await;
    assert!(!cache_serves(&app, &redis).await);
}
