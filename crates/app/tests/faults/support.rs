//! What every scenario needs: the binary and the servers from the
//! environment, a fresh migrated database, and the service as a process
//! with its addresses and a client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use testkit::http::{client, free_addr, metric_value, scrape, until_status};
use testkit::{Database, Process, ProcessBuilder};

/// The release binary under test, from `BULKHEAD_BIN`.
pub fn binary() -> PathBuf {
    let Some(path) = std::env::var_os("BULKHEAD_BIN") else {
        panic!(
            "BULKHEAD_BIN is not set: run `make faults`, which builds the release binary \
             (cargo build --release -p bulkhead) and sets it to target/release/bulkhead"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "BULKHEAD_BIN={} is not a file: build it with `cargo build --release -p bulkhead`",
        path.display()
    );
    path
}

/// Where the report and the services' logs go (`FAULTS_DIR`, by default
/// `target/faults` of the workspace).
pub fn out_dir() -> PathBuf {
    std::env::var_os("FAULTS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/faults"),
        PathBuf::from,
    )
}

/// The log file of one process of one scenario.
pub fn log_file(scenario: &str, process: &str) -> PathBuf {
    out_dir()
        .join("logs")
        .join(format!("{scenario}-{process}.log"))
}

fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The shared Redis (`TEST_REDIS_URL`).
pub fn shared_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh database for a scenario, migrated by the binary's own
/// `migrate`.
pub async fn database(scenario: &str) -> Database {
    let db = Database::create(&admin_database_url(), "bulkhead_faults")
        .await
        .expect("creating the scenario's database");
    ProcessBuilder::new(binary(), log_file(scenario, "migrate"))
        .arg("migrate")
        .var("DATABASE_URL", db.url(None))
        .var("LOG_LEVEL", "warn")
        .run(Duration::from_secs(60))
        .await
        .expect("migrating the scenario's database");
    db
}

/// Settings every scenario starts from: fast health checks, a short
/// request deadline with the database limits below it, and warnings
/// only, into a file.
pub fn base_vars() -> Vec<(String, String)> {
    [
        ("LOG_LEVEL", "warn"),
        ("HEALTH_CHECK_INTERVAL", "250ms"),
        ("HEALTH_CHECK_TIMEOUT", "200ms"),
        ("REQUEST_TIMEOUT", "2s"),
        ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ("DATABASE_STATEMENT_TIMEOUT", "1s"),
        ("SHUTDOWN_DELAY", "0s"),
        ("SHUTDOWN_TIMEOUT", "5s"),
        ("OUTBOX_POLL_INTERVAL", "100ms"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The service as a running process.
#[derive(Debug)]
pub struct Service {
    pub process: Process,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub client: reqwest::Client,
}

impl Service {
    /// Starts the binary with `vars` (on top of [`base_vars`]) on free
    /// loopback ports and waits until `/readyz` answers `200`.
    pub async fn start(scenario: &str, name: &str, vars: Vec<(String, String)>) -> Self {
        let addr = free_addr().await.unwrap();
        let admin_addr = free_addr().await.unwrap();
        let process = ProcessBuilder::new(binary(), log_file(scenario, name))
            .vars(base_vars())
            .var("HTTP_ADDR", addr.to_string())
            .var("ADMIN_ADDR", admin_addr.to_string())
            .vars(vars)
            .spawn()
            .expect("starting the service");
        let service = Self {
            process,
            addr,
            admin_addr,
            client: client(Duration::from_secs(10)).unwrap(),
        };
        if let Err(err) = until_status(
            &service.client,
            &service.url("/readyz"),
            200,
            Duration::from_secs(30),
        )
        .await
        {
            panic!(
                "{name} never became ready: {err:#}\n{}",
                service.process.log_tail(20)
            );
        }
        service
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// One series of `/metrics` (0 when absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = scrape(&self.client, &self.admin_url("/metrics"))
            .await
            .unwrap();
        metric_value(&text, series).unwrap_or(0.0)
    }

    /// The status `/readyz` answers now.
    pub async fn readiness(&self) -> u16 {
        self.client
            .get(self.url("/readyz"))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// Log lines so far whose message contains `text`.
    pub fn log_count(&self, text: &str) -> usize {
        self.process
            .lines()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }
}
