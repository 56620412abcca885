//! The users example's routes answer every malformed request with a
//! problem: malformed ids and queries, bad content types and bodies, wrong
//! methods and short bodies, through the case machinery of `contract.rs`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::contract::{JSON, TOKEN, case, check_all, raw};
use crate::helpers::{TestApp, UsersApi as _};

async fn spawn() -> (TestApp, String) {
    let app = TestApp::builder().var("ADMIN_TOKEN", TOKEN).spawn().await;
    let user = app.create_user("contract@example.com", "Contract").await;
    let id = user["id"].as_str().unwrap().to_owned();
    (app, id)
}

#[tokio::test]
async fn malformed_user_paths_are_problems() {
    let (app, id) = spawn().await;
    let long = "a".repeat(4096);
    let mut cases = Vec::new();
    for segment in ["%FF", "%C3%28", "not-a-uuid", "%00", "%ZZ", long.as_str()] {
        let path = format!("/api/v1/users/{segment}");
        cases.push(case(Method::GET, &path, 400));
        cases.push(case(Method::DELETE, &path, 400));
        cases.push(case(Method::PATCH, &path, 400).json(r#"{"name":"X"}"#));
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
    check_all(&app, cases).await;
}

#[tokio::test]
async fn malformed_user_list_queries_are_problems() {
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
    // Parameters the document does not name are ignored.
    cases.push(case(Method::GET, "/api/v1/users?limit[]=1&%ZZ=%FF", 200));
    check_all(&app, cases).await;
}

#[tokio::test]
async fn bad_content_types_and_bodies_to_users_are_problems() {
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
    check_all(&app, cases).await;
}

#[tokio::test]
async fn unknown_user_paths_and_wrong_methods_are_problems() {
    let (app, id) = spawn().await;
    let user = format!("/api/v1/users/{id}");
    let cases = vec![
        case(Method::GET, "/api/v1/users/", 404),
        case(Method::PUT, "/api/v1/users", 405),
        case(Method::DELETE, "/api/v1/users", 405),
        case(Method::POST, &user, 405),
        case(Method::PUT, &user, 405),
        case(Method::OPTIONS, &user, 405),
    ];
    check_all(&app, cases).await;
}

#[tokio::test]
async fn a_user_body_shorter_than_its_content_length_is_a_problem() {
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
