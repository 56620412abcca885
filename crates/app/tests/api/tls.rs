//! TLS to PostgreSQL and Redis against real servers: the local PostgreSQL
//! (`ssl=on`), a throw-away PostgreSQL cluster and a `redis-server` that
//! speak only TLS with a CA the test makes, and what a wrong CA, a wrong
//! name or a missing file look like.

mod certs;
mod pg_cluster;
mod redis_server;

use std::time::{Duration, Instant};

use config::Settings;
use repository::database::{self, PostgresCheck};
use reqwest::StatusCode;
use serde_json::Value;
use service::health::DependencyCheck as _;
use sqlx::PgPool;

use url::Url;

use crate::helpers::{Cache, TestApp, TestDb, UsersApi as _, admin_database_url, with_query};
use certs::Certs;
use pg_cluster::{PASSWORD, PgCluster};
use redis_server::{ClientAuth, TlsRedis};

#[tokio::test]
async fn the_local_server_speaks_tls_with_require_and_plaintext_with_disable() {
    let db = TestDb::create().await;
    for (query, tls) in [("sslmode=require", true), ("sslmode=disable", false)] {
        let settings = with_database_url(&db.url_with_query(query));
        let pool = database::pool(&settings.database).unwrap();
        assert_eq!(
            own_connection_is_tls(pool.connections())
                .await
                .unwrap_or_else(|err| panic!(
                    "{query}: {err:#} (does the server of TEST_DATABASE_URL have ssl=on?)"
                )),
            tls,
            "{query}"
        );
        pool.close().await;
    }

    // The whole application: every connection it holds is encrypted.
    let app = TestApp::builder()
        .database_query("sslmode=require")
        .cache(Cache::Off)
        .spawn()
        .await;
    until_ready(&app).await;
    app.create_user("tls@example.com", "Encrypted").await;
    let (encrypted, plain) = connections_by_tls(&admin_database_url(), &app.db.name).await;
    assert!(
        encrypted >= 1 && plain == 0,
        "{encrypted} TLS, {plain} plaintext"
    );
}

#[tokio::test]
async fn verify_full_against_a_private_ca_migrates_and_serves() {
    let certs = Certs::make().await;
    let cluster = PgCluster::start(&certs).await;
    let verify_full = format!(
        "sslmode=verify-full&sslrootcert={}",
        certs.path_str("ca.crt")
    );
    let url = cluster.url("127.0.0.1", "bulkhead", &verify_full);

    // `migrate`, as the Kubernetes job runs it: creates the database and
    // applies the migrations.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &url)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Serving: the pool, the readiness check's own connection and the
    // start-up check of the migrations.
    let app = TestApp::builder()
        .database_url(url)
        .cache(Cache::Off)
        .spawn()
        .await;
    until_ready(&app).await;
    let user = app.create_user("verified@example.com", "Verified").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    let admin = cluster.url("127.0.0.1", "postgres", &verify_full);
    let (encrypted, plain) = connections_by_tls(&admin, "bulkhead").await;
    assert!(
        encrypted >= 2 && plain == 0,
        "{encrypted} TLS, {plain} plaintext"
    );
}

#[tokio::test]
async fn a_wrong_ca_a_wrong_name_and_plaintext_are_refused_with_the_reason() {
    let certs = Certs::make().await;
    let cluster = PgCluster::start(&certs).await;
    let ca = certs.path_str("ca.crt");
    let other = certs.path_str("other-ca.crt");

    // `verify-ca` checks the chain only: 127.0.0.2 is not in the
    // certificate, and passes. `require` without a root certificate
    // encrypts and checks nothing.
    for (host, query) in [
        ("127.0.0.2", format!("sslmode=verify-ca&sslrootcert={ca}")),
        ("127.0.0.2", "sslmode=require".to_owned()),
    ] {
        let settings = with_database_url(&cluster.url(host, "postgres", &query));
        let pool = database::pool(&settings.database).unwrap();
        let tls = own_connection_is_tls(pool.connections()).await;
        assert!(matches!(tls, Ok(true)), "{query}: {tls:?}");
    }

    for (host, query, reason) in [
        (
            "127.0.0.1",
            format!("sslmode=verify-full&sslrootcert={other}"),
            "invalid peer certificate: UnknownIssuer",
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-ca&sslrootcert={other}"),
            "invalid peer certificate: UnknownIssuer",
        ),
        // As in libpq: `require` with a root certificate checks the chain.
        (
            "127.0.0.1",
            format!("sslmode=require&sslrootcert={other}"),
            "invalid peer certificate: UnknownIssuer",
        ),
        (
            "127.0.0.2",
            format!("sslmode=verify-full&sslrootcert={ca}"),
            "certificate not valid for name \"127.0.0.2\"",
        ),
        // The cluster accepts TLS only.
        ("127.0.0.1", "sslmode=disable".to_owned(), "no encryption"),
    ] {
        let settings = with_database_url(&cluster.url(host, "bulkhead", &query));
        let migrated = format!(
            "{:#}",
            database::migrate(&settings.database).await.unwrap_err()
        );
        let check = PostgresCheck::new(&settings.database, Duration::from_secs(5)).unwrap();
        let checked = format!("{:#}", check.check().await.unwrap_err());
        for text in [migrated, checked] {
            assert!(text.contains(reason), "{query}: {text}");
            assert!(!text.contains(PASSWORD), "{query}: {text}");
        }
    }
}

#[tokio::test]
async fn a_root_certificate_that_cannot_be_read_is_named_at_start_up_and_in_readiness() {
    // No connection gets as far as the handshake here: any server will do.
    let certs = Certs::make().await;
    let server = Url::parse(&admin_database_url()).unwrap();
    let query = "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt";
    let settings = with_database_url(&with_query(&server, query));
    let text = format!("{:#}", database::pool(&settings.database).unwrap_err());
    assert_eq!(
        text,
        "DATABASE_URL sslrootcert: cannot read /nonexistent/ca.crt: \
         No such file or directory (os error 2)"
    );

    // A file that was there at start-up and is gone (a Secret unmounted):
    // readiness names it, not an anonymous I/O error.
    let dir = std::env::temp_dir().join(format!("bulkhead-ca-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.crt");
    std::fs::copy(certs.path("ca.crt"), &ca).unwrap();
    let query = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    let settings = with_database_url(&with_query(&server, &query));
    let check = PostgresCheck::new(&settings.database, Duration::from_secs(5)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let text = format!("{:#}", check.check().await.unwrap_err());
    assert!(
        text.starts_with(&format!(
            "DATABASE_URL sslrootcert: cannot read {}",
            ca.display()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn rediss_with_a_private_ca_fills_and_serves_the_cache() {
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
async fn rediss_with_the_wrong_ca_or_the_system_roots_is_a_miss_not_an_error() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::No).await;
    let wrong_ca = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .var("REDIS_TLS_CA_FILE", &certs.path_str("other-ca.crt"))
        .spawn()
        .await;
    assert!(!cache_serves(&wrong_ca, &redis).await);
    // Without REDIS_TLS_CA_FILE only the system's roots are trusted.
    let system_roots = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .spawn()
        .await;
    assert!(!cache_serves(&system_roots, &redis).await);
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::Required).await;
    let with_cert = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .var("REDIS_TLS_CA_FILE", &certs.path_str("ca.crt"))
        .var("REDIS_TLS_CERT_FILE", &certs.path_str("client.crt"))
        .var("REDIS_TLS_KEY_FILE", &certs.path_str("client.key"))
        .spawn()
        .await;
    assert!(cache_serves(&with_cert, &redis).await);
    let without = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .var("REDIS_TLS_CA_FILE", &certs.path_str("ca.crt"))
        .spawn()
        .await;
    assert!(!cache_serves(&without, &redis).await);
}

/// A first TLS handshake of a debug build on a busy machine can take longer
/// than the 50 ms default; what is tested here is TLS, not latency.
const TLS_CACHE_TIMEOUT: &str = "2s";

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

fn with_database_url(database_url: &str) -> Settings {
    Settings::from_vars([("DATABASE_URL", database_url)]).unwrap()
}

/// Whether a connection of the pool is encrypted, as the server sees it.
async fn own_connection_is_tls(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Client connections to `database` (the check's own excluded, it goes to
/// the database of `admin_url`): encrypted and plaintext.
async fn connections_by_tls(admin_url: &str, database: &str) -> (i64, i64) {
    let pool = PgPool::connect(admin_url).await.unwrap();
    let counts = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    counts
}

async fn until_ready(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get("/readyz").await;
        if response.status() == StatusCode::OK {
            return;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
