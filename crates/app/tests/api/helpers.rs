//! Starting the application and its real dependencies for a test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::OnceLock;

use app::startup::{Application, Stopped};
use app::telemetry::Telemetry;
use config::Settings;
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
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

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
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

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user and returns its body, failing the test on anything
    /// but `201`.
    pub async fn create_user(&self, email: &str, name: &str) -> Value {
        let response = self
            .post_json("/api/v1/users", &json!({ "email": email, "name": name }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The Redis key the application uses for a user.
    pub fn cache_key(&self, id: &str) -> String {
        format!("{}:user:v2:{id}", self.cache_prefix)
    }

    /// The cached user as the service would read it: `None` without an
    /// entry of the current epoch with data (missing, a marker, or an entry
    /// of an older epoch).
    pub async fn cached_user(&self, id: &str) -> Option<Value> {
        let (epoch, _version, json) = self.cache_entry(id).await?;
        let current: Option<String> = redis::cmd("GET")
            .arg(format!("{}:epoch", self.cache_prefix))
            .query_async(&mut self.redis().await)
            .await
            .unwrap();
        (current.as_deref() == Some(epoch.as_str()) && !json.is_empty())
            .then(|| serde_json::from_str(&json).unwrap())
    }

    /// The raw entry of a user: epoch, version, and JSON (empty for a
    /// marker).
    pub async fn cache_entry(&self, id: &str) -> Option<(String, String, String)> {
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.cache_key(id))
            .query_async(&mut self.redis().await)
            .await
            .unwrap();
        let raw = raw?;
        let mut parts = raw.splitn(3, ' ');
        Some((
            parts.next()?.to_owned(),
            parts.next()?.to_owned(),
            parts.next()?.to_owned(),
        ))
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

/// Locks a user's row in a transaction of the test's own, so that a
/// request touching it waits: a slow request on demand.
pub async fn lock_user_row(db: &TestDb, id: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = db.pool().await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
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

/// The text of an admin listener's `/metrics`.
pub async fn scrape(client: &reqwest::Client, admin_url: &str) -> String {
    let response = client
        .get(format!("{admin_url}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as rendered), if any.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The `field` names of a problem's `errors` list.
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

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A server that accepts connections and never answers: the network
/// behaviour of a hung or black-holed dependency.
pub struct BlackHole {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { addr, task }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy in front of a real server that the test can cut (existing
/// connections dropped, new ones closed at once) and restore: the network
/// behaviour of a dependency that goes down and comes back.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(watch::Sender::new(true));
        let state = Arc::clone(&up);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                let mut down = state.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up, task }
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `promtool check metrics` on a scrape (`PROMTOOL` names the binary;
/// `make test` installs it).
pub fn promtool_check_metrics(text: &str) {
    let promtool = std::env::var("PROMTOOL").expect(
        "PROMTOOL must name a promtool binary; `make test` installs one (make tool-promtool)",
    );
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
