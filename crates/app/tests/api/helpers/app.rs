//! [`TestApp`]: the application in-process on port 0, with a fresh
//! database and a Redis key prefix of its own, and what every test sends
//! and checks over HTTP.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use app::startup::{Application, Stopped};
use app::telemetry::Telemetry;
use config::Settings;
use reqwest::{Response, StatusCode, header};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;
use uuid::Uuid;

use super::database::{TestDb, with_query};
use super::metrics::scrape;

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Telemetry for the in-process applications: the log subscriber and the
/// metrics recorder are global, so one per test process, set up by the
/// first application. `TEST_LOG` sets its filter (default `warn`).
fn telemetry(settings: &Settings) -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let mut settings = settings.clone();
        settings.log_level = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
        Telemetry::init(&settings).expect("installing telemetry once per test process")
    })
}

/// How the application under test reaches Redis.
#[derive(Clone)]
pub enum Cache {
    /// The real Redis, with a key prefix of the test's own.
    Real,
    /// No `REDIS_URL`.
    Off,
    /// Some other address (closed port, black hole).
    At(String),
}

pub struct TestAppBuilder {
    db: Option<TestDb>,
    cache: Cache,
    database_via: Option<SocketAddr>,
    database_url: Option<String>,
    database_query: Option<String>,
    vars: Vec<(String, String)>,
}

impl TestAppBuilder {
    pub fn cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// Serve from this database rather than a new one (when the test must
    /// know its URL first).
    pub fn db(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    /// Reach PostgreSQL through this address (a proxy in front of it).
    pub fn database_via(mut self, addr: SocketAddr) -> Self {
        self.database_via = Some(addr);
        self
    }

    /// Use this `DATABASE_URL` as is (e.g. a closed port).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Use this query string (e.g. `sslmode=require`) in the test
    /// database's URL, in place of the server's.
    pub fn database_query(mut self, query: &str) -> Self {
        self.database_query = Some(query.to_owned());
        self
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let db = match self.db {
            Some(db) => db,
            None => TestDb::create().await,
        };
        let prefix = format!("test-{}", Uuid::new_v4().simple());
        let mut vars = vec![
            (
                "DATABASE_URL".to_owned(),
                self.database_url.unwrap_or_else(|| {
                    let url = db.url(self.database_via);
                    match &self.database_query {
                        Some(query) => with_query(&Url::parse(&url).unwrap(), query),
                        None => url,
                    }
                }),
            ),
            ("CACHE_KEY_PREFIX".to_owned(), prefix.clone()),
        ];
        match &self.cache {
            Cache::Real => vars.push(("REDIS_URL".to_owned(), redis_url())),
            Cache::At(url) => vars.push(("REDIS_URL".to_owned(), url.clone())),
            Cache::Off => {}
        }
        // Tests stop at once unless they ask for the delay.
        vars.push(("SHUTDOWN_DELAY".to_owned(), "0s".to_owned()));
        vars.extend(self.vars);
        let settings = Settings::from_vars(vars).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = Application::with_listeners(
            settings.clone(),
            listener,
            admin_listener,
            telemetry(&settings),
        )
        .unwrap();
        let addr = app.local_addr().unwrap();
        let admin_addr = app.admin_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));

        TestApp {
            addr,
            admin_addr,
            client: http_client(),
            cache_prefix: prefix,
            db,
            stop: std::sync::Mutex::new(Some(stop)),
            server: Some(server),
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub client: reqwest::Client,
    pub cache_prefix: String,
    pub db: TestDb,
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<Stopped>>>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            db: None,
            cache: Cache::Real,
            database_via: None,
            database_url: None,
            database_query: None,
            vars: Vec::new(),
        }
    }

    /// The application with real PostgreSQL and Redis.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    pub async fn metrics(&self) -> String {
        scrape(&self.client, &self.admin_url("")).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    // For each resource's tests; none of the infrastructure's sends a
    // body or reads the cache, so unused without a resource.
    #[allow(dead_code)]
    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    // For each resource's tests; none of the infrastructure's sends a
    // body or reads the cache, so unused without a resource.
    #[allow(dead_code)]
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    // For each resource's tests; none of the infrastructure's sends a
    // body or reads the cache, so unused without a resource.
    #[allow(dead_code)]
    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    // For each resource's tests; none of the infrastructure's sends a
    // body or reads the cache, so unused without a resource.
    #[allow(dead_code)]
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Sends the shutdown signal without waiting for the stop.
    pub fn signal_stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server and waits for it, returning how the stop ended.
    pub async fn stop(mut self) -> Stopped {
        self.shut_down().await
    }

    /// Stops the server and waits for it, keeping the database (and this
    /// handle) for checks afterwards.
    pub async fn shut_down(&mut self) -> Stopped {
        self.signal_stop();
        let server = self.server.take().unwrap();
        server.await.unwrap().unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Checks that `response` is a problem+json with `status`, carrying the
/// request id of its `X-Request-Id` header, and returns the body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["request_id"], request_id, "{body}");
    for member in ["type", "title", "detail", "instance"] {
        assert!(body[member].is_string(), "`{member}` missing in {body}");
    }
    body
}

/// The HTTP client every test uses.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Sends `n` GETs to `url` one after another, each expected to be `200`,
/// and returns the slowest one's time.
pub async fn slowest_get(client: &reqwest::Client, url: &str, n: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let started = std::time::Instant::now();
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

/// The `field` names of a problem's `errors` list.
// For each resource's validation tests; unused without a resource.
#[allow(dead_code)]
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
