//! TLS to PostgreSQL and Redis against real servers: the local PostgreSQL
//! (`ssl=on`), a throw-away PostgreSQL cluster and a `redis-server` that
//! speak only TLS with a CA the test makes, and what a wrong CA, a wrong
//! name or a missing file look like. The application's database requests
//! are the admin outbox routes; its Redis connection is judged by its
//! readiness check and an epoch reset.

pub mod certs;
mod pg_cluster;
pub mod redis_server;

use std::time::Duration;

use config::Settings;
use repository::database::{self, PostgresCheck};
use reqwest::StatusCode;
use serde_json::Value;
use service::cache::CacheReset as _;
use service::health::DependencyCheck as _;
use sqlx::PgPool;

use url::Url;

use crate::helpers::{Cache, TestApp, TestDb, admin_database_url, until, with_query};
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
    app.until_ready_is(StatusCode::OK, Duration::from_secs(20))
        .await;
    let listed = app
        .client
        .get(app.admin_url("/admin/outbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
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
    app.until_ready_is(StatusCode::OK, Duration::from_secs(20))
        .await;
    // A read and a write through the pool.
    for request in [
        app.client.get(app.admin_url("/admin/outbox")),
        app.client.post(app.admin_url("/admin/outbox/redrive")),
    ] {
        assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    }
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
async fn rediss_with_a_private_ca_connects_and_writes() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::No).await;
    let ca = certs.path_str("ca.crt");
    assert!(cache_serves(&redis, &[("REDIS_TLS_CA_FILE", &ca)]).await);
}

#[tokio::test]
async fn rediss_with_the_wrong_ca_or_the_system_roots_is_down_not_an_error() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::No).await;
    let other = certs.path_str("other-ca.crt");
    assert!(!cache_serves(&redis, &[("REDIS_TLS_CA_FILE", &other)]).await);
    // Without REDIS_TLS_CA_FILE only the system's roots are trusted.
    assert!(!cache_serves(&redis, &[]).await);
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let certs = Certs::make().await;
    let redis = TlsRedis::start(&certs, ClientAuth::Required).await;
    let (ca, cert, key) = (
        certs.path_str("ca.crt"),
        certs.path_str("client.crt"),
        certs.path_str("client.key"),
    );
    let with_cert = [
        ("REDIS_TLS_CA_FILE", ca.as_str()),
        ("REDIS_TLS_CERT_FILE", cert.as_str()),
        ("REDIS_TLS_KEY_FILE", key.as_str()),
    ];
    assert!(cache_serves(&redis, &with_cert).await);
    assert!(!cache_serves(&redis, &[("REDIS_TLS_CA_FILE", &ca)]).await);
}

/// A first TLS handshake of a debug build on a busy machine can take longer
/// than the 50 ms default; what is tested here is TLS, not latency.
pub const TLS_CACHE_TIMEOUT: &str = "2s";

/// Whether the cache connection of `vars` works against `redis`: the
/// application's readiness check (a `PING` over the connection every cache
/// shares) says `up`, and an epoch reset (a `SET`, every cache's first
/// write) through a connection of the same settings reaches Redis. The
/// application serves either way: a cache it cannot reach is `down`, the
/// service degraded, never an error.
async fn cache_serves(redis: &TlsRedis, vars: &[(&str, &str)]) -> bool {
    let mut builder = TestApp::builder()
        .cache(Cache::At(redis.url.clone()))
        .var("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT)
        .var("HEALTH_CHECK_INTERVAL", "3s")
        .var("HEALTH_CHECK_TIMEOUT", TLS_CACHE_TIMEOUT);
    for (name, value) in vars {
        builder = builder.var(name, value);
    }
    let app = builder.spawn().await;
    let up = until(Duration::from_secs(20), "Redis checked", || async {
        let body: Value = app.get("/readyz").await.json().await.unwrap();
        match body["dependencies"]["redis"]["status"].as_str() {
            Some("up") => Ok(true),
            Some("down") => Ok(false),
            _ => Err(body.to_string()),
        }
    })
    .await;
    assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK);

    let mut settings = vec![
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused"),
        ("REDIS_URL", redis.url.as_str()),
        ("CACHE_KEY_PREFIX", app.cache_prefix.as_str()),
        ("CACHE_TIMEOUT", TLS_CACHE_TIMEOUT),
    ];
    settings.extend_from_slice(vars);
    let settings = Settings::from_vars(settings).unwrap().cache.unwrap();
    let cache = repository::redis::RedisCache::new(&settings).unwrap();
    let reset = cache.reset().await.is_ok();
    let stored = redis
        .get(&format!("{}:epoch", app.cache_prefix))
        .await
        .unwrap()
        .is_some();
    assert_eq!(up, reset, "readiness and a write disagree");
    assert_eq!(reset, stored, "a reset and what Redis holds disagree");
    up
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
