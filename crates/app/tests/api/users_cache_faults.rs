//! The cache under partial failure: an invalidation that fails never leads
//! to a stale read, and a black-holed Redis opens the breaker so reads stop
//! waiting for it. Redis is a private `redis-server` per test, because
//! these tests change its ACL.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::free_addr;
use crate::helpers::{BlackHole, Cache, TestApp, TestDb, UsersApi as _, assert_problem};

/// A `redis-server` of the test's own, killed when dropped.
struct PrivateRedis {
    child: std::process::Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let addr = free_addr().await;
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let redis = Self {
            child,
            url: format!("redis://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.command(&["PING"]).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    async fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async(&mut conn).await
    }

    /// Scripts fail from now on; plain reads and writes still work.
    async fn deny_scripts(&self) {
        self.command(&["ACL", "SETUSER", "default", "-@scripting"])
            .await
            .unwrap();
    }

    async fn allow_all(&self) {
        self.command(&["ACL", "SETUSER", "default", "+@all"])
            .await
            .unwrap();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn name_of(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["name"].clone()
}

#[tokio::test]
async fn a_failed_invalidation_never_serves_a_stale_read_on_any_replica() {
    let redis = PrivateRedis::start().await;
    let db = TestDb::create().await;
    // Two replicas on one database and one cache.
    let replica = || {
        TestApp::builder()
            .cache(Cache::At(redis.url.clone()))
            .database_url(db.url(None))
            .var("CACHE_KEY_PREFIX", "shared")
            .spawn()
    };
    let (writer, other) = (replica().await, replica().await);
    let user = writer.create_user("stale@example.com", "Before").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    // Both replicas have it cached (the first read starts the epoch).
    for app in [&writer, &other] {
        for _ in 0..2 {
            assert_eq!(name_of(app, &path).await, "Before");
        }
    }

    // The invalidation (a script) fails; the write is still answered.
    redis.deny_scripts().await;
    let patched = writer.patch_json(&path, &json!({"name": "After"})).await;
    assert_eq!(patched.status(), StatusCode::OK);
    // The writer never serves the old entry.
    assert_eq!(name_of(&writer, &path).await, "After");
    assert_eq!(
        crate::helpers::metric_value(&writer.metrics().await, "cache_trusted"),
        Some(0.0)
    );
    // The other replica sees the new value within the repair interval
    // (the reset is a plain SET, which still works), and never the old
    // one after that.
    let deadline = Instant::now() + Duration::from_secs(5);
    while name_of(&other, &path).await != "After" {
        assert!(Instant::now() < deadline, "the other replica stayed stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert_eq!(name_of(&other, &path).await, "After");
        assert_eq!(name_of(&writer, &path).await, "After");
    }

    // A delete whose invalidation fails is a 404 everywhere at once on the
    // writer, and on the other replica once the cache is reset.
    assert_eq!(writer.delete(&path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(writer.get(&path).await, StatusCode::NOT_FOUND).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while other.get(&path).await.status() != StatusCode::NOT_FOUND {
        assert!(
            Instant::now() < deadline,
            "the deleted user was still served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Scripts back: the cache is used again.
    redis.allow_all().await;
    let user = writer.create_user("again@example.com", "Again").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    for _ in 0..3 {
        assert_eq!(name_of(&writer, &path).await, "Again");
    }
    let metrics = writer.metrics().await;
    assert!(
        crate::helpers::metric_value(&metrics, r#"cache_requests_total{result="hit"}"#)
            .is_some_and(|hits| hits > 0.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_black_holed_redis_opens_the_breaker_and_reads_stop_waiting_for_it() {
    let hole = BlackHole::start().await;
    let app = TestApp::builder()
        .cache(Cache::At(format!("redis://{}", hole.addr)))
        .var("CACHE_TIMEOUT", "1s")
        .var("CACHE_BREAKER_COOL_DOWN", "1m")
        .spawn()
        .await;
    let user = app.create_user("hole@example.com", "Hole").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    // Each of the first reads waits CACHE_TIMEOUT and fails; after five
    // failures the breaker opens.
    for _ in 0..5 {
        assert_eq!(name_of(&app, &path).await, "Hole");
    }
    let readyz: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(readyz["breakers"]["redis"], "open", "{readyz}");
    assert_eq!(readyz["status"], "degraded", "{readyz}");
    // From now on a read never touches Redis: each is far quicker than the
    // CACHE_TIMEOUT a call to the black hole would cost.
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(name_of(&app, &path).await, "Hole");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a read waited for Redis: {:?}",
            started.elapsed()
        );
    }
    let metrics = app.metrics().await;
    assert_eq!(
        crate::helpers::metric_value(&metrics, r#"circuit_breaker_state{breaker="redis"}"#),
        Some(2.0),
        "{metrics}"
    );
}
