//! CORS on a resource's write: a listed origin's `POST` to the users
//! example gets the allow and expose headers (`Location` among them). The
//! preflight and the headers themselves are covered without the example in
//! `cors.rs`.

use reqwest::{StatusCode, header};

use crate::helpers::TestApp;

const ORIGIN: &str = "https://app.example.com";

#[tokio::test]
async fn a_listed_origins_post_gets_cors_headers() {
    let app = TestApp::builder()
        .var("CORS_ALLOWED_ORIGINS", ORIGIN)
        .spawn()
        .await;
    let created = app
        .client
        .post(app.url("/api/v1/users"))
        .header(header::ORIGIN, ORIGIN)
        .json(&serde_json::json!({"email": "cors@example.com", "name": "Cors"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        created.headers()["access-control-allow-origin"],
        ORIGIN,
        "{:?}",
        created.headers()
    );
    let exposed = created.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("location"),
        "{exposed}"
    );
    assert!(created.headers().contains_key(header::LOCATION));
}
