//! Running the real binary: start-up, logs, and the ordered shutdown on
//! SIGTERM, as Kubernetes would drive it ([`shutdown`]).

mod shutdown;

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{TestDb, http_client, metric_value, scrape, slowest_get};

/// A local address that was free a moment ago.
pub async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// What happens to the binary's stdout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// Read line by line into [`Binary::lines`].
    Collect,
    /// A pipe nobody reads: it fills up and stays full.
    Stalled,
}

/// The `bulkhead` binary, serving on its own database.
pub struct Binary {
    child: Child,
    reader: Option<tokio::task::JoinHandle<()>>,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub client: reqwest::Client,
    lines: Arc<Mutex<Vec<String>>>,
    pub db: TestDb,
}

impl Binary {
    pub async fn start(vars: &[(&str, &str)], stdout: Stdout) -> Self {
        Self::start_on(TestDb::create().await, vars, stdout).await
    }

    /// Starts on `db`, which may not exist yet.
    pub async fn start_on(db: TestDb, vars: &[(&str, &str)], stdout: Stdout) -> Self {
        // An HTTP_ADDR among `vars` (e.g. 0.0.0.0:PORT) is reached on
        // loopback at its port.
        let addr = match vars.iter().find(|(k, _)| *k == "HTTP_ADDR") {
            Some((_, v)) => {
                let port = v.parse::<SocketAddr>().unwrap().port();
                SocketAddr::from(([127, 0, 0, 1], port))
            }
            None => free_addr().await,
        };
        let admin_addr = free_addr().await;
        let dir = std::env::temp_dir();
        let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
        command
            .env_clear()
            .current_dir(dir)
            .env("DATABASE_URL", db.url(None))
            .env("HTTP_ADDR", addr.to_string())
            .env("ADMIN_ADDR", admin_addr.to_string())
            .env("HEALTH_CHECK_INTERVAL", "200ms")
            .env("HEALTH_CHECK_TIMEOUT", "100ms")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let reader = match stdout {
            Stdout::Collect => {
                let lines = Arc::clone(&lines);
                Some(tokio::spawn(async move {
                    let mut reader = BufReader::new(out).lines();
                    while let Ok(Some(line)) = reader.next_line().await {
                        lines.lock().unwrap().push(line);
                    }
                }))
            }
            // Keep the read end open and never read it.
            Stdout::Stalled => {
                std::mem::forget(out);
                None
            }
        };
        let binary = Self {
            child,
            reader,
            addr,
            admin_addr,
            client: http_client(),
            lines,
            db,
        };
        binary.until_status("/readyz", StatusCode::OK).await;
        binary
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// A fresh connection per request, as a load balancer's probe makes.
    pub async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(self.url(path))
            .header("connection", "close")
            .send()
            .await
    }

    /// Polls `path` until it answers `status`, failing after 20 s.
    pub async fn until_status(&self, path: &str, status: StatusCode) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self.get(path).await
                && response.status() == status
            {
                return;
            }
            assert!(Instant::now() < deadline, "{path} never answered {status}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn signal(&self, name: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `within`.
    /// Waits for the process to exit, at most `within`, and for the last
    /// of its output to be read.
    pub async fn exit(&mut self, within: Duration) -> ExitStatus {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running after {within:?}"))
            .unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        status
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The JSON log lines whose message is `message`.
    pub fn events(&self, message: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// Polls until a log line with `message` matching `pred` appears.
    pub async fn until_event(&self, message: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(found) = self.events(message).into_iter().find(|e| pred(e)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no `{message}` line:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn access_logs_are_json_with_request_fields_and_never_show_credentials() {
    let binary = Binary::start(&[("LOG_LEVEL", "warn")], Stdout::Collect).await;
    let send = |request_id: &'static str| {
        binary
            .client
            .get(binary.url("/openapi.json"))
            .header("x-request-id", request_id)
            .header("authorization", "Bearer top-secret-token")
            .header("cookie", "session=top-secret-cookie")
            .send()
    };
    assert_eq!(send("quiet-1").await.unwrap().status(), StatusCode::OK);

    // Raise the level at runtime: the next request is logged.
    let response = binary
        .client
        .put(binary.admin_url("/debug/log-level"))
        .body("info")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(send("loud-1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        binary.get("/healthz").await.unwrap().status(),
        StatusCode::OK
    );

    let line = binary
        .until_event("request finished", |e| e["request_id"] == "loud-1")
        .await;
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["http.request.method"], "GET");
    assert_eq!(line["http.route"], "/openapi.json");
    assert_eq!(line["url.path"], "/openapi.json");
    assert_eq!(line["http.response.status_code"], 200);
    assert!(line["latency_ms"].is_number(), "{line}");
    // Each fact once, and no span bookkeeping.
    let mut keys: Vec<&str> = line
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "http.request.method",
            "http.response.status_code",
            "http.route",
            "latency_ms",
            "level",
            "message",
            "request_id",
            "span_id",
            "target",
            "timestamp",
            "trace_id",
            "url.path",
        ],
        "{line}"
    );
    assert!(line["timestamp"].is_string(), "{line}");
    assert!(line["target"].is_string(), "{line}");
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "{line}");
    assert_eq!(line["span_id"].as_str().unwrap().len(), 16, "{line}");

    let lines = binary.lines();
    assert!(
        binary
            .events("request finished")
            .iter()
            .all(|e| e["request_id"] != "quiet-1"),
        "logged at warn"
    );
    assert!(
        binary
            .events("request finished")
            .iter()
            .all(|e| e["http.route"] != "/healthz"),
        "probes are logged at debug"
    );
    assert!(
        lines.iter().all(|l| !l.contains("top-secret")),
        "a credential reached the log"
    );
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "every line is JSON"
    );
}

#[tokio::test]
async fn a_stalled_stdout_drops_log_lines_instead_of_slowing_requests() {
    let binary = Binary::start(
        &[("LOG_LEVEL", "debug"), ("LOG_BUFFER_LINES", "64")],
        Stdout::Stalled,
    )
    .await;
    let slowest = slowest_get(&binary.client, &binary.url("/openapi.json"), 1500).await;
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request took {slowest:?}"
    );
    let metrics = scrape(&binary.client, &binary.admin_url("")).await;
    let dropped = metric_value(&metrics, "log_lines_dropped_total")
        .unwrap_or_else(|| panic!("no log_lines_dropped_total in\n{metrics}"));
    assert!(
        dropped > 0.0,
        "nothing was dropped: was stdout really full?"
    );
}
