//! Running the real binary: start-up, logs, and the ordered shutdown on
//! SIGTERM, as Kubernetes would drive it. The request a drain waits for is
//! one still arriving ([`SlowRequest`]), which needs no slow route.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
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

/// A request that is still arriving: its head sent up to the last header,
/// without the blank line that ends it. The server counts it in flight
/// from its first byte, so a drain waits for it; [`SlowRequest::finish`]
/// sends the rest and reads the answer. Needs no route that is slow by
/// itself, so it works whatever resources the service has.
pub struct SlowRequest {
    stream: tokio::net::TcpStream,
}

impl SlowRequest {
    pub async fn start(addr: SocketAddr, path: &str) -> Self {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nHost: slow\r\nConnection: close\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        Self { stream }
    }

    /// Whether the server has closed the connection (without answering).
    pub async fn is_closed(&mut self) -> bool {
        let mut byte = [0_u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_millis(50), self.stream.peek(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    /// Ends the head and returns the answer's status line, or `None` if
    /// the connection was closed without one.
    pub async fn finish(mut self) -> Option<String> {
        let _ = self.stream.write_all(b"\r\n").await;
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut reply))
            .await;
        let reply = String::from_utf8_lossy(&reply).into_owned();
        reply
            .lines()
            .next()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
    }
}

#[tokio::test]
async fn sigterm_fails_readiness_then_drains_in_flight_requests_and_exits_0() {
    let mut binary = Binary::start(
        &[
            ("SHUTDOWN_DELAY", "1s"),
            ("SHUTDOWN_TIMEOUT", "15s"),
            ("HTTP_HEADER_READ_TIMEOUT", "30s"),
        ],
        Stdout::Collect,
    )
    .await;
    let mut request = SlowRequest::start(binary.addr, "/openapi.json").await;

    binary.signal("TERM");
    binary
        .until_status("/readyz", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(
        binary.get("/healthz").await.unwrap().status(),
        StatusCode::OK
    );

    // After SHUTDOWN_DELAY the listener closes while the request is still
    // in flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(binary.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "new connections still accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !request.is_closed().await,
        "the slow request must still be in flight"
    );

    let status = request.finish().await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    let status = binary.exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", binary.lines().join("\n"));
    for step in [
        "shutdown 3/5: every in-flight request finished",
        "shutdown 5/5",
    ] {
        assert!(
            binary.lines().iter().any(|l| l.contains(step)),
            "no `{step}` log line:\n{}",
            binary.lines().join("\n")
        );
    }
}

#[tokio::test]
async fn a_request_outliving_the_shutdown_deadline_is_cut_off_and_exit_is_1() {
    let mut binary = Binary::start(
        &[
            ("SHUTDOWN_DELAY", "0s"),
            ("SHUTDOWN_TIMEOUT", "1s"),
            ("HTTP_HEADER_READ_TIMEOUT", "30s"),
        ],
        Stdout::Collect,
    )
    .await;
    let mut request = SlowRequest::start(binary.addr, "/openapi.json").await;

    let signalled = Instant::now();
    binary.signal("TERM");
    let status = binary.exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(1));
    // The deadline (1 s) plus a small margin.
    assert!(took < Duration::from_secs(3), "exit took {took:?}");
    assert!(
        request.is_closed().await,
        "the cut-off request is still open"
    );
    assert_eq!(
        request.finish().await,
        None,
        "the cut-off request got a response"
    );
    binary
        .until_event(
            "shutdown 3/5: SHUTDOWN_TIMEOUT passed; connections with requests still in flight were cut off",
            |e| e["connections"] == 1,
        )
        .await;
}

#[tokio::test]
async fn a_second_signal_exits_at_once_with_1() {
    let mut binary = Binary::start(&[("SHUTDOWN_DELAY", "30s")], Stdout::Collect).await;
    binary.signal("TERM");
    binary
        .until_status("/readyz", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    let signalled = Instant::now();
    binary.signal("INT");
    let status = binary.exit(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(1));
    assert!(signalled.elapsed() < Duration::from_secs(2));
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
