//! The users example in `/metrics`: its routes are labelled by template,
//! never by id, and its cache-aside reads are counted.

use reqwest::StatusCode;

use crate::helpers::{TestApp, UsersApi as _};

#[tokio::test]
async fn user_routes_are_labelled_by_template_and_cache_reads_counted() {
    let app = TestApp::spawn().await;
    let user = app.create_user("m@example.com", "M").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/users/{id}")).await.status(),
        StatusCode::OK
    );
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/users/{id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/api/v1/users",status="201"} 1"#),
        "{text}"
    );
    assert!(!text.contains(id), "an id became a label");
    assert!(text.contains("cache_requests_total"), "{text}");
}
