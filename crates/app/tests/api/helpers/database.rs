//! PostgreSQL for the tests: the server of `TEST_DATABASE_URL`, and
//! [`TestDb`], a database of one test's own.

use std::net::SocketAddr;

use config::Settings;
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

/// The server the tests use, in plaintext unless `TEST_DATABASE_URL` names
/// an `sslmode`: against the local server a TLS handshake takes about
/// 100 ms, more than the short timeouts several tests set on purpose. The
/// TLS tests (`tls.rs`) choose their modes themselves.
pub fn admin_database_url() -> String {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut url = Url::parse(&url).expect("TEST_DATABASE_URL is a URL");
    if !url
        .query_pairs()
        .any(|(key, _)| key == "sslmode" || key == "ssl-mode")
    {
        url.query_pairs_mut().append_pair("sslmode", "disable");
    }
    url.into()
}

/// `url` with `query` in place of its query string.
pub fn with_query(url: &Url, query: &str) -> String {
    let mut url = url.clone();
    url.set_query(Some(query));
    url.into()
}

/// Where the server of a URL listens (for putting a proxy in front of it).
pub fn server_addr(url: &str, default_port: u16) -> SocketAddr {
    let url = Url::parse(url).unwrap();
    let host = match url.host_str() {
        None | Some("localhost") => "127.0.0.1",
        Some(host) => host,
    };
    format!("{host}:{}", url.port().unwrap_or(default_port))
        .parse()
        .unwrap()
}

/// A database of its own for one test, created and migrated through the
/// application's own `migrate`, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    url: Url,
}

impl TestDb {
    pub async fn create() -> Self {
        let db = Self::reserve();
        let settings = Settings::from_vars([("DATABASE_URL", db.url.as_str())]).unwrap();
        repository::database::migrate(&settings.database)
            .await
            .expect("creating and migrating the test database");
        db
    }

    /// A name for a database that does not exist yet (a first run creates
    /// it); dropped, if it was created, when the test ends.
    pub fn reserve() -> Self {
        let name = format!("bulkhead_test_{}", Uuid::new_v4().simple());
        let mut url = Url::parse(&admin_database_url()).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self { name, url }
    }

    /// The database's URL, optionally through another address (a proxy).
    pub fn url(&self, via: Option<SocketAddr>) -> String {
        let mut url = self.url.clone();
        if let Some(addr) = via {
            url.set_host(Some(&addr.ip().to_string())).unwrap();
            url.set_port(Some(addr.port())).unwrap();
        }
        url.to_string()
    }

    /// The database's URL with `query` (e.g. `sslmode=require`) in place of
    /// the server's.
    pub fn url_with_query(&self, query: &str) -> String {
        with_query(&self.url, query)
    }

    /// A direct pool, for checks and sabotage behind the application's back.
    pub async fn pool(&self) -> PgPool {
        PgPool::connect(self.url.as_str()).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = admin_database_url();
        // Drop runs outside async context; a small runtime on its own thread
        // does the cleanup. FORCE closes the application's connections.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = PgPool::connect(&admin).await {
                    // The name is `bulkhead_test_` and a UUID's hex digits.
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                    pool.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
