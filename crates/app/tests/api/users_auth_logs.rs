//! Authentication on the users routes as the real binary logs it: the
//! open API answers, with one warning, and no token reaches the log,
//! whatever the level.

use reqwest::StatusCode;

use crate::auth::support::{AUDIENCE, ISSUER, JwksServer, SigningKey, claims, claims_with};
use crate::binary::{Binary, Stdout};
use crate::users_auth::READ;

const OPEN_WARNING: &str = "AUTH_JWKS_URL is unset: the API accepts every request without a token; set AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE to require bearer tokens";

#[tokio::test]
async fn without_a_jwks_url_the_api_is_open_and_start_up_warns_once() {
    // Reachable from other hosts: the open API is worth a warning. (On
    // loopback only, a local run, it is an info line: see first_run.rs.)
    let port = crate::binary::free_addr().await.port();
    let http_addr = format!("0.0.0.0:{port}");
    let binary = Binary::start(&[("HTTP_ADDR", &http_addr)], Stdout::Collect).await;
    let response = binary.get("/api/v1/users").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let warnings = binary.events(OPEN_WARNING);
    assert_eq!(warnings.len(), 1, "{}", binary.lines().join("\n"));
    assert_eq!(warnings[0]["level"], "WARN");
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    let url = jwks.url();
    let binary = Binary::start(
        &[
            ("LOG_LEVEL", "debug"),
            ("AUTH_JWKS_URL", &url),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
        ],
        Stdout::Collect,
    )
    .await;
    let valid = rsa.sign(&claims(READ));
    let expired = rsa.sign(&claims_with(READ, &serde_json::json!({ "exp": 1 })));
    let forged = SigningKey::ec("forged").sign(&claims(READ));
    let send = |token: &str| {
        binary
            .client
            .get(binary.url("/api/v1/users"))
            .bearer_auth(token)
            .send()
    };
    crate::auth::support::eventually("the keys are loaded", || async {
        send(&valid).await.unwrap().status() == StatusCode::OK
    })
    .await;
    assert_eq!(
        send(&expired).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&forged).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let refused = binary
        .until_event("request refused by authentication", |e| {
            e["reason"] == "expired"
        })
        .await;
    assert_eq!(refused["http.route"], "/api/v1/users", "{refused}");
    let lines = binary.lines().join("\n");
    for token in [&valid, &expired, &forged] {
        // Each part of a token (its signature above all) is absent.
        for part in token.split('.') {
            assert!(!lines.contains(part), "a token part was logged:\n{lines}");
        }
    }
}
