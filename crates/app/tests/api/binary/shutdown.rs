//! The ordered shutdown of the real binary on SIGTERM: readiness fails,
//! in-flight requests drain or are cut off at the deadline, a second
//! signal exits at once. The request a drain waits for is one still
//! arriving ([`SlowRequest`]), which needs no slow route.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Binary, Stdout};
use crate::helpers::until;

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
    until(Duration::from_secs(5), "the listener closed", || async {
        match tokio::net::TcpStream::connect(binary.addr).await {
            Ok(_) => Err("new connections still accepted".to_owned()),
            Err(_) => Ok(()),
        }
    })
    .await;
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
