//! `GET /api/v1/users?limit=&cursor=`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, UsersApi as _, assert_problem, error_fields};

async fn page(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/users{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_walk_every_user_in_creation_order() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let user = app
            .create_user(&format!("user{i}@example.com"), &format!("User {i}"))
            .await;
        created.push(user["id"].as_str().unwrap().to_owned());
    }

    let first = page(&app, "?limit=2").await;
    assert_eq!(ids(&first), created[0..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = page(&app, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), created[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let third = page(&app, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&third), created[4..5]);
    assert!(third["next_cursor"].is_null(), "{third}");

    // An exact fit has no next page either.
    let all = page(&app, "?limit=5").await;
    assert_eq!(ids(&all), created);
    assert!(all["next_cursor"].is_null());
}

#[tokio::test]
async fn default_limit_is_20() {
    let app = TestApp::spawn().await;
    for i in 0..21 {
        app.create_user(&format!("u{i}@example.com"), "U").await;
    }
    let first = page(&app, "").await;
    assert_eq!(ids(&first).len(), 20);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = page(&app, &format!("?cursor={cursor}")).await;
    assert_eq!(ids(&rest).len(), 1);
}

#[tokio::test]
async fn empty_list_has_no_cursor() {
    let app = TestApp::spawn().await;
    let empty = page(&app, "").await;
    assert_eq!(
        empty,
        serde_json::json!({ "items": [], "next_cursor": null })
    );
}

#[tokio::test]
async fn bad_limit_or_cursor_is_400() {
    let app = TestApp::spawn().await;
    let padded = format!("?cursor={}=", "A".repeat(31));
    for (query, fields) in [
        ("?limit=0", vec!["limit"]),
        ("?limit=101", vec!["limit"]),
        ("?limit=ten", vec!["limit"]),
        ("?limit=-1", vec!["limit"]),
        ("?limit=%205", vec!["limit"]),
        ("?limit=5%20", vec!["limit"]),
        ("?cursor=not-a-cursor", vec!["cursor"]),
        ("?cursor=", vec!["cursor"]),
        ("?cursor=%20AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", vec!["cursor"]),
        (padded.as_str(), vec!["cursor"]),
        ("?limit=0&cursor=%%%", vec!["limit", "cursor"]),
    ] {
        let response = app.get(&format!("/api/v1/users{query}")).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), fields, "{query}: {problem}");
    }
    // The bounds themselves are fine.
    page(&app, "?limit=1").await;
    page(&app, "?limit=100").await;
}

#[tokio::test]
async fn every_string_of_the_cursor_pattern_is_a_cursor() {
    let app = TestApp::spawn().await;
    let user = app.create_user("c@example.com", "C").await;
    let id = user["id"].as_str().unwrap();
    // The time of a cursor is 8 bytes of microseconds: the smallest and the
    // largest are clamped to years 1 and 9999, before and after every user.
    let before_all = format!("gAAAAAAAAAA{}", "A".repeat(21));
    let after_all = format!("f__________{}", "_".repeat(21));
    assert_eq!(
        ids(&page(&app, &format!("?cursor={before_all}")).await),
        [id]
    );
    assert!(ids(&page(&app, &format!("?cursor={after_all}")).await).is_empty());
    for cursor in [
        "A".repeat(32),
        "_".repeat(32),
        "-".repeat(32),
        "z9".repeat(16),
    ] {
        page(&app, &format!("?cursor={cursor}")).await;
    }
}
