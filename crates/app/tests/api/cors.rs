//! Cross-origin requests: only listed origins get CORS headers, and with
//! none listed there are none at all. The CORS layer wraps the whole public
//! router, so `/openapi.json` carries the same headers as any resource.

use reqwest::{Method, StatusCode, header};

use crate::helpers::TestApp;

const ORIGIN: &str = "https://app.example.com";

fn value<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/openapi.json"))
        .header(header::ORIGIN, origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key,x-request-id",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_gets_preflight_and_response_headers() {
    let app = TestApp::builder()
        .var(
            "CORS_ALLOWED_ORIGINS",
            &format!("{ORIGIN}, http://localhost:3000"),
        )
        .spawn()
        .await;
    let response = preflight(&app, ORIGIN).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        value(&response, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    let methods = value(&response, "access-control-allow-methods")
        .unwrap()
        .to_ascii_uppercase();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = value(&response, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-request-id",
    ] {
        assert!(headers.contains(name), "{headers}");
    }
    assert_eq!(value(&response, "access-control-max-age"), Some("600"));

    let answered = app
        .client
        .get(app.url("/openapi.json"))
        .header(header::ORIGIN, ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(
        value(&answered, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    let exposed = value(&answered, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("location"),
        "{exposed}"
    );

    // Another origin gets nothing it could use.
    let other = preflight(&app, "https://evil.example.com").await;
    assert_eq!(value(&other, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_origins_there_are_no_cors_headers_at_all() {
    let app = TestApp::spawn().await;
    let response = preflight(&app, ORIGIN).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        response.headers()
    );
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .header(header::ORIGIN, ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(value(&response, "access-control-allow-origin"), None);
}
