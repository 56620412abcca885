//! Every error answer of both listeners is a problem: malformed paths,
//! queries, headers and bodies at every route, the unknown path and the
//! wrong methods all come back as `application/problem+json` with a valid
//! RFC 9457 body, whichever extractor or layer refused them.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{TestApp, UsersApi as _, assert_problem};

const TOKEN: &str = "contract-token";
const JSON: &str = "application/json";

/// One request and the status it must get.
struct Case {
    admin: bool,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
}

fn case(method: Method, path: impl Into<String>, status: u16) -> Case {
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
    fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    fn body(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = body.into();
        self
    }

    fn json(self, body: &str) -> Self {
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
async fn check_all(app: &TestApp, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        failures.extend(check(app, case).await);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn spawn() -> (TestApp, String) {
    let app = TestApp::builder().var("ADMIN_TOKEN", TOKEN).spawn().await;
    let user = app.create_user("contract@example.com", "Contract").await;
    let id = user["id"].as_str().unwrap().to_owned();
    (app, id)
}

#[tokio::test]
async fn malformed_paths_are_problems() {
    let (app, id) = spawn().await;
    let long = "a".repeat(4096);
    let mut cases = Vec::new();
    for segment in ["%FF", "%C3%28", "not-a-uuid", "%00", "%ZZ", long.as_str()] {
        let path = format!("/api/v1/users/{segment}");
        cases.push(case(Method::GET, &path, 400));
        cases.push(case(Method::DELETE, &path, 400));
        cases.push(case(Method::PATCH, &path, 400).json(r#"{"name":"X"}"#));
        cases.push(case(Method::POST, format!("/admin/outbox/{segment}/retry"), 400).admin());
    }
    // The id is a UUID in its hyphenated form only (`format: uuid`), in
    // either case; the other spellings uuid parsers take are refused.
    let simple = id.replace('-', "");
    for other in [simple, format!("%7B{id}%7D"), format!("urn:uuid:{id}")] {
        cases.push(case(Method::GET, format!("/api/v1/users/{other}"), 400));
        cases.push(case(Method::DELETE, format!("/api/v1/users/{other}"), 400));
        cases.push(
            case(Method::PATCH, format!("/api/v1/users/{other}"), 400).json(r#"{"name":"X"}"#),
        );
    }
    cases.push(case(
        Method::GET,
        format!("/api/v1/users/{}", id.to_uppercase()),
        200,
    ));
    cases.push(case(Method::GET, format!("/api/v1/users/{id}/extra"), 404));
    cases.push(case(Method::GET, "/nope/%FF", 404));
    cases.push(case(Method::GET, "/admin/nope/%FF", 404).admin());
    check_all(&app, cases).await;
}

#[tokio::test]
async fn malformed_queries_are_problems() {
    let (app, _) = spawn().await;
    let mut cases = Vec::new();
    for query in [
        "limit=%ZZ",
        "limit=1&limit=2",
        "cursor=a&cursor=b",
        "limit=abc",
        "limit=1.5",
        "limit=%201",
        "limit=1%20",
        "limit=+1",
        "limit=%2B1",
        "limit=",
        "cursor=",
        "cursor=%FF",
        "cursor=%20AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        cases.push(case(Method::GET, format!("/api/v1/users?{query}"), 400));
    }
    for query in ["limit=%ZZ", "limit=1&limit=2", "status=nope", "limit=0"] {
        cases.push(case(Method::GET, format!("/admin/outbox?{query}"), 400).admin());
    }
    // Parameters the document does not name are ignored, as are queries of
    // routes that take none.
    cases.push(case(Method::GET, "/api/v1/users?limit[]=1&%ZZ=%FF", 200));
    cases.push(case(Method::GET, "/openapi.json?%ZZ=%FF", 200));
    cases.push(case(Method::GET, "/healthz?%ZZ", 200));
    cases.push(case(Method::GET, "/metrics?%FF", 200).admin());
    check_all(&app, cases).await;
}

#[tokio::test]
async fn bad_content_types_and_bodies_are_problems() {
    let (app, id) = spawn().await;
    let user = format!("/api/v1/users/{id}");
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(100 * 1024));
    let mut cases = Vec::new();
    for (method, path) in [(Method::POST, "/api/v1/users"), (Method::PATCH, &user)] {
        let valid = r#"{"email":"other@example.com","name":"Other"}"#;
        for content_type in [None, Some("text/plain"), Some("application/xml")] {
            cases.push(case(method.clone(), path, 415).body(content_type, valid));
        }
        for (body, status) in [
            ("", 400),
            ("{", 400),
            ("{\"name\": \"\u{0}", 400),
            ("null", 422),
            ("[]", 422),
            ("42", 422),
            (r#"{"email": 1, "name": "X"}"#, 422),
            (r#"{"email": null, "name": "X"}"#, 422),
            (r#"{"email": "a@example.com", "name": ["X"]}"#, 422),
            (r#"{"name": "X", "nmae": "typo"}"#, 422),
        ] {
            cases.push(case(method.clone(), path, status).json(body));
        }
        cases.push(
            case(method.clone(), path, 400).body(Some(JSON), b"{\"name\": \"\xFF\"}".to_vec()),
        );
        cases.push(case(method.clone(), path, 413).json(&huge));
    }
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
    let (app, id) = spawn().await;
    let user = format!("/api/v1/users/{id}");
    let mut cases = vec![
        case(Method::GET, "/", 404),
        case(Method::GET, "/api/v1/users/", 404),
        case(Method::PUT, "/api/v1/users", 405),
        case(Method::DELETE, "/api/v1/users", 405),
        case(Method::POST, &user, 405),
        case(Method::PUT, &user, 405),
        case(Method::OPTIONS, &user, 405),
        case(Method::POST, "/openapi.json", 405),
        case(Method::DELETE, "/admin/outbox", 405).admin(),
        case(Method::GET, "/admin/outbox/x/retry", 405).admin(),
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
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
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
    let (app, id) = spawn().await;
    for path in ["/api/v1/users".to_owned(), format!("/api/v1/users/{id}")] {
        let method = if path.ends_with("users") {
            "POST"
        } else {
            "PATCH"
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\n{{\"name\":"
        );
        let (status, content_type, body) = raw(app.addr, request.as_bytes()).await;
        assert_eq!(status, 400, "{method} {path}");
        assert_eq!(content_type, "application/problem+json");
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], json!(400));
        assert_eq!(problem["instance"], json!(path));
    }
}
