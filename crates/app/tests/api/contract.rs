//! Every error answer of both listeners is a problem: malformed paths,
//! queries, headers and bodies at every route, the unknown path and the
//! wrong methods all come back as `application/problem+json` with a valid
//! RFC 9457 body, whichever extractor or layer refused them. Here at the
//! routes every project has (probes, `/openapi.json`, the admin routes);
//! the case machinery is shared with each resource's contract tests.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{TestApp, assert_problem};

pub const TOKEN: &str = "contract-token";
// For each resource's JSON bodies; no infrastructure route takes one.
#[allow(dead_code)]
pub const JSON: &str = "application/json";

/// One request and the status it must get.
pub struct Case {
    admin: bool,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
}

pub fn case(method: Method, path: impl Into<String>, status: u16) -> Case {
    Case {
        admin: false,
        method,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        status,
    }
}

impl Case {
    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    pub fn body(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = body.into();
        self
    }

    // As `JSON`.
    #[allow(dead_code)]
    pub fn json(self, body: &str) -> Self {
        self.body(Some(JSON), body)
    }
}

/// Sends `case` and checks its status; an error status must be a valid
/// problem whose `instance` is the path. Returns what is wrong, if anything.
async fn check(app: &TestApp, case: Case) -> Option<String> {
    let url = if case.admin {
        app.admin_url(&case.path)
    } else {
        app.url(&case.path)
    };
    let mut request = app.client.request(case.method.clone(), url);
    if case.admin {
        request = request.bearer_auth(TOKEN);
    }
    if let Some(content_type) = case.content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if !case.body.is_empty() {
        request = request.body(case.body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.bytes().await.unwrap();
    let what = format!("{} {} -> {status} {content_type}", case.method, case.path);
    if status.as_u16() != case.status {
        return Some(format!("{what}: expected {}", case.status));
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    if content_type != "application/problem+json" {
        return Some(format!("{what}: not a problem"));
    }
    let Ok(problem) = serde_json::from_slice::<Value>(&body) else {
        return Some(format!("{what}: body is not JSON"));
    };
    let path = case.path.split('?').next().unwrap_or_default();
    let valid = problem["status"] == json!(status.as_u16())
        && problem["instance"] == json!(path)
        && problem["request_id"] == json!(request_id)
        && ["type", "title", "detail"]
            .iter()
            .all(|member| problem[member].is_string());
    (!valid).then(|| format!("{what}: invalid problem {problem}"))
}

/// Runs every case and fails listing all that went wrong.
pub async fn check_all(app: &TestApp, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        failures.extend(check(app, case).await);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

pub async fn spawn() -> TestApp {
    TestApp::builder().var("ADMIN_TOKEN", TOKEN).spawn().await
}

#[tokio::test]
async fn malformed_paths_are_problems() {
    let app = spawn().await;
    let long = "a".repeat(4096);
    let mut cases = Vec::new();
    for segment in ["%FF", "%C3%28", "not-a-uuid", "%00", "%ZZ", long.as_str()] {
        cases.push(case(Method::POST, format!("/admin/outbox/{segment}/retry"), 400).admin());
    }
    let id = uuid::Uuid::now_v7().to_string();
    // No dead event has it: well-formed, so a 404 rather than a 400.
    cases.push(
        case(
            Method::POST,
            format!("/admin/outbox/{}/retry", id.to_uppercase()),
            404,
        )
        .admin(),
    );
    cases.push(case(Method::POST, format!("/admin/outbox/{id}/retry/extra"), 404).admin());
    cases.push(case(Method::GET, "/nope/%FF", 404));
    cases.push(case(Method::GET, "/admin/nope/%FF", 404).admin());
    check_all(&app, cases).await;
}

#[tokio::test]
async fn malformed_queries_are_problems() {
    let app = spawn().await;
    let mut cases = Vec::new();
    for query in [
        "limit=%ZZ",
        "limit=1&limit=2",
        "status=nope",
        "limit=0",
        "limit=abc",
        "limit=1.5",
        "limit=",
    ] {
        cases.push(case(Method::GET, format!("/admin/outbox?{query}"), 400).admin());
    }
    for query in ["from=yesterday", "before=%FF", "type=a&type=b"] {
        cases.push(case(Method::POST, format!("/admin/outbox/redrive?{query}"), 400).admin());
    }
    // Parameters the document does not name are ignored, as are queries of
    // routes that take none.
    cases.push(case(Method::GET, "/admin/outbox?limit[]=1&%ZZ=%FF", 200).admin());
    cases.push(case(Method::GET, "/openapi.json?%ZZ=%FF", 200));
    cases.push(case(Method::GET, "/healthz?%ZZ", 200));
    cases.push(case(Method::GET, "/metrics?%FF", 200).admin());
    check_all(&app, cases).await;
}

#[tokio::test]
async fn bad_content_types_and_bodies_are_problems() {
    let app = spawn().await;
    let mut cases = Vec::new();
    let level = "/debug/log-level";
    cases.push(
        case(Method::PUT, level, 400)
            .admin()
            .body(Some("text/plain"), b"\xFF\xFE".to_vec()),
    );
    cases.push(
        case(Method::PUT, level, 400)
            .admin()
            .body(None, "info,service=loud"),
    );
    cases.push(
        case(Method::PUT, level, 413)
            .admin()
            .body(None, vec![b'a'; 3 * 1024 * 1024]),
    );
    cases.push(case(Method::PUT, level, 200).admin().body(None, "info"));
    check_all(&app, cases).await;
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_problems() {
    let app = spawn().await;
    let mut cases = vec![
        case(Method::GET, "/", 404),
        case(Method::GET, "/api/v1/", 404),
        case(Method::POST, "/openapi.json", 405),
        case(Method::PUT, "/openapi.json", 405),
        case(Method::DELETE, "/admin/outbox", 405).admin(),
        case(Method::GET, "/admin/outbox/x/retry", 405).admin(),
        case(Method::GET, "/admin/outbox/redrive", 405).admin(),
        case(Method::POST, "/metrics", 405).admin(),
        case(Method::DELETE, "/debug/log-level", 405).admin(),
        case(Method::GET, "/nope", 404).admin(),
    ];
    for probe in ["/healthz", "/startupz", "/readyz"] {
        cases.push(case(Method::POST, probe, 405));
    }
    check_all(&app, cases).await;
    // Without the token, the guarded admin routes say 401, as a problem.
    let response = app
        .client
        .get(app.admin_url("/admin/outbox?limit=%ZZ"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

/// Sends raw bytes and returns the status, the content type and the body.
pub async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&reply[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (status, content_type, reply[split + 4..].to_vec())
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_a_problem() {
    let app = spawn().await;
    let path = "/debug/log-level";
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: close\r\n\r\ninfo,"
    );
    let (status, content_type, body) = raw(app.admin_addr, request.as_bytes()).await;
    assert_eq!(status, 400, "PUT {path}");
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], json!(400));
    assert_eq!(problem["instance"], json!(path));
}
