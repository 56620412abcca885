//! Bearer tokens on the users API, against a real JWKS server started in
//! the test (`auth::support`), with RSA and P-256 keys made in the test:
//! what passes, and what is refused with which status, challenge, problem
//! and counted reason. The provider as a dependency, over these routes, is
//! in `users_auth_provider`; the verification itself, without any route,
//! in `auth`.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::auth::support::{
    JwksServer, SigningKey, claims, claims_with, eventually, hs256, now, spawn_app, unsigned,
};
use crate::helpers::{TestApp, assert_problem, metric_value};

pub const READ: &str = "users:read";
pub const WRITE: &str = "users:write";

/// Waits until the application has the keys: `token` (valid, with
/// `users:read`) stops getting `503`.
pub async fn wait_for_keys(app: &TestApp, token: &str) {
    eventually("the keys are loaded", || async {
        get(app, "/api/v1/users", Some(token)).await.status() != StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
}

pub async fn post_user(app: &TestApp, token: Option<&str>, email: &str) -> reqwest::Response {
    let request = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&json!({ "email": email, "name": "Ada" }));
    send(request, token).await
}

/// Checks a `401 invalid_token` problem and returns its challenge.
pub async fn assert_invalid_token(response: reqwest::Response) -> String {
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    let body = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["type"], "/problems/invalid-token", "{body}");
    challenge
}

#[tokio::test]
async fn tokens_signed_with_rsa_or_ec_keys_read_and_write() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let jwks = JwksServer::start(&[&rsa, &ec]).await;
    let app = spawn_app(&jwks, "1h").await;
    let reader = rsa.sign(&claims(READ));
    let writer = ec.sign(&claims(WRITE));
    wait_for_keys(&app, &reader).await;

    let created = post_user(&app, Some(&writer), "ada@example.com").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let user: Value = created.json().await.unwrap();
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());

    assert_eq!(
        get(&app, &path, Some(&reader)).await.status(),
        StatusCode::OK
    );
    let list = get(&app, "/api/v1/users", Some(&reader)).await;
    assert_eq!(list.status(), StatusCode::OK);
    // Any token granting both scopes (among others) does both.
    let both = ec.sign(&claims(&format!("openid {READ} {WRITE}")));
    assert_eq!(get(&app, &path, Some(&both)).await.status(), StatusCode::OK);

    let patch = app
        .client
        .patch(app.url(&path))
        .json(&json!({ "name": "Ada L." }));
    assert_eq!(send(patch, Some(&writer)).await.status(), StatusCode::OK);
    let delete = app.client.delete(app.url(&path));
    assert_eq!(
        send(delete, Some(&both)).await.status(),
        StatusCode::NO_CONTENT
    );
    // One fetch at start-up did it all.
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn a_request_without_a_token_is_401_with_a_bare_bearer_challenge() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    let app = spawn_app(&jwks, "1h").await;
    wait_for_keys(&app, &rsa.sign(&claims(READ))).await;
    let id = uuid::Uuid::now_v7();
    let user = format!("/api/v1/users/{id}");

    let requests = [
        app.client.get(app.url("/api/v1/users")),
        app.client.get(app.url(&user)),
        app.client.post(app.url("/api/v1/users")).json(&json!({})),
        app.client.patch(app.url(&user)).json(&json!({})),
        app.client.delete(app.url(&user)),
        // Another scheme is no bearer token either.
        app.client
            .get(app.url("/api/v1/users"))
            .basic_auth("ada", Some("secret")),
    ];
    for request in requests {
        let response = send(request, None).await;
        // RFC 6750 §3.1: no error code for a request without credentials.
        assert_eq!(challenge(&response), "Bearer");
        let body = assert_problem(response, StatusCode::UNAUTHORIZED).await;
        assert!(
            body["detail"].as_str().unwrap().contains("Bearer"),
            "{body}"
        );
    }
    // The body was never read: an invalid body without a token is a 401,
    // not a 422.
    let response = post_user(&app, None, "not an address").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let metrics = app.metrics().await;
    assert!(
        metric_value(&metrics, r#"auth_failures_total{reason="missing"}"#).unwrap() >= 7.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn tokens_that_break_a_rule_are_401_invalid_token() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let stranger = SigningKey::rsa("stranger");
    let jwks = JwksServer::start(&[&rsa, &ec]).await;
    let app = spawn_app(&jwks, "1h").await;
    wait_for_keys(&app, &rsa.sign(&claims(READ))).await;

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another issuer",
            rsa.sign(&claims_with(
                READ,
                &json!({ "iss": "https://evil.example/" }),
            )),
            "issuer",
        ),
        (
            "another audience",
            rsa.sign(&claims_with(READ, &json!({ "aud": "another-api" }))),
            "audience",
        ),
        (
            "audiences without ours",
            ec.sign(&claims_with(READ, &json!({ "aud": ["a", "b"] }))),
            "audience",
        ),
        (
            "expired beyond the leeway",
            rsa.sign(&claims_with(READ, &json!({ "exp": now() - 60 }))),
            "expired",
        ),
        (
            "not yet valid beyond the leeway",
            ec.sign(&claims_with(READ, &json!({ "nbf": now() + 60 }))),
            "not_yet_valid",
        ),
        (
            "no exp",
            rsa.sign(&claims_with(READ, &json!({ "exp": null }))),
            "claims",
        ),
        (
            "no sub",
            rsa.sign(&claims_with(READ, &json!({ "sub": null }))),
            "claims",
        ),
        (
            "signed by another key under a known key id",
            stranger.sign_as("rsa-1", &claims(READ)),
            "signature",
        ),
        (
            "alg none",
            unsigned(
                &json!({ "alg": "none", "typ": "JWT", "kid": "rsa-1" }),
                &claims(READ),
                b"",
            ),
            "algorithm",
        ),
        (
            "HS256 keyed with the RSA public key (PEM)",
            hs256("rsa-1", rsa.public_pem.as_bytes(), &claims(READ)),
            "algorithm",
        ),
        (
            "HS256 keyed with the EC public key (PEM)",
            hs256("ec-1", ec.public_pem.as_bytes(), &claims(READ)),
            "algorithm",
        ),
        (
            "ES256 in the header of an RSA key",
            ec.sign_as("rsa-1", &claims(READ)),
            "algorithm",
        ),
        (
            "RS256 in the header of an EC key",
            stranger.sign_as("ec-1", &claims(READ)),
            "algorithm",
        ),
        ("not a JWT", "abc.def".to_owned(), "malformed"),
    ];
    for (case, token, reason) in &cases {
        let before = app.metrics().await;
        let response = get(&app, "/api/v1/users", Some(token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        let challenge = assert_invalid_token(response).await;
        assert!(
            challenge.contains("error_description="),
            "{case}: {challenge}"
        );
        assert!(
            !challenge.contains(token.as_str()),
            "{case}: the token is echoed"
        );
        let series = format!(r#"auth_failures_total{{reason="{reason}"}}"#);
        let after = app.metrics().await;
        assert_eq!(
            metric_value(&after, &series).unwrap() - metric_value(&before, &series).unwrap(),
            1.0,
            "{case}: {series}"
        );
    }

    // Within the 30 s leeway, a token just past `exp` or just before
    // `nbf` still passes; so does a list of audiences holding ours.
    let within = [
        rsa.sign(&claims_with(READ, &json!({ "exp": now() - 10 }))),
        ec.sign(&claims_with(READ, &json!({ "nbf": now() + 10 }))),
        rsa.sign(&claims_with(
            READ,
            &json!({ "aud": ["other", crate::auth::support::AUDIENCE] }),
        )),
    ];
    for token in &within {
        assert_eq!(
            get(&app, "/api/v1/users", Some(token)).await.status(),
            StatusCode::OK
        );
    }
    // None of these made the service fetch the keys again.
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn a_token_without_the_operations_scope_is_403_naming_it() {
    let ec = SigningKey::ec("ec-1");
    let jwks = JwksServer::start(&[&ec]).await;
    let app = spawn_app(&jwks, "1h").await;
    let reader = ec.sign(&claims(READ));
    let writer = ec.sign(&claims(WRITE));
    wait_for_keys(&app, &reader).await;
    let user = format!("/api/v1/users/{}", uuid::Uuid::now_v7());

    let writes = [
        (
            app.client.post(app.url("/api/v1/users")).json(&json!({})),
            &reader,
        ),
        (app.client.patch(app.url(&user)).json(&json!({})), &reader),
        (app.client.delete(app.url(&user)), &reader),
        // A token with no scope at all.
        (
            app.client.delete(app.url(&user)),
            &ec.sign(&claims_with(READ, &json!({ "scope": null }))),
        ),
    ];
    for (request, token) in writes {
        let response = send(request, Some(token)).await;
        assert_eq!(
            challenge(&response),
            r#"Bearer error="insufficient_scope", scope="users:write""#
        );
        let body = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(body["type"], "/problems/insufficient-scope");
    }
    for path in ["/api/v1/users", user.as_str()] {
        let response = get(&app, path, Some(&writer)).await;
        assert_eq!(
            challenge(&response),
            r#"Bearer error="insufficient_scope", scope="users:read""#
        );
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    // Scopes are compared exactly.
    let near_misses = ec.sign(&claims("users:READ users users:read:all"));
    let response = get(&app, "/api/v1/users", Some(&near_misses)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn probes_and_the_openapi_document_need_no_token() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    let app = spawn_app(&jwks, "1h").await;
    eventually("start-up has finished", || async {
        app.get("/startupz").await.status() == StatusCode::OK
    })
    .await;
    for path in ["/healthz", "/startupz", "/readyz", "/openapi.json"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }

    // The document declares the scheme and, per operation, the scope the
    // middleware enforces, and the 401 and 403 answers.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    assert_eq!(scheme["bearerFormat"], "JWT", "{scheme}");
    let operations = [
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
    ];
    for (path, method) in operations {
        let operation = &doc["paths"][path][method];
        let method_enforced =
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let enforced = handler::users::SCOPES.for_method(&method_enforced);
        assert_eq!(
            operation["security"],
            json!([{ "bearer": [enforced] }]),
            "{method} {path}"
        );
        for status in ["401", "403"] {
            let response = &operation["responses"][status];
            assert_eq!(
                response["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
            assert!(
                response["headers"]["WWW-Authenticate"].is_object(),
                "{method} {path} {status}"
            );
        }
    }
}

#[tokio::test]
async fn the_auth_metrics_are_described_and_pass_promtool() {
    let ec = SigningKey::ec("ec-1");
    let jwks = JwksServer::start(&[&ec]).await;
    let app = spawn_app(&jwks, "1h").await;
    // Every reason is there from the start (at zero until it happens), so
    // the first refusal shows in rate() and increase().
    let text = app.metrics().await;
    for reason in [
        "missing",
        "expired",
        "issuer",
        "audience",
        "signature",
        "keys_unavailable",
    ] {
        let series = format!(r#"auth_failures_total{{reason="{reason}"}}"#);
        assert!(metric_value(&text, &series).is_some(), "{series}:\n{text}");
    }
    wait_for_keys(&app, &ec.sign(&claims(READ))).await;
    let scope = r#"auth_failures_total{reason="insufficient_scope"}"#;
    let before = metric_value(&app.metrics().await, scope).unwrap();
    get(&app, "/api/v1/users", None).await;
    get(&app, "/api/v1/users", Some(&ec.sign(&claims(WRITE)))).await;

    let text = app.metrics().await;
    for name in ["auth_failures_total", "jwks_refreshes_total", "jwks_keys"] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} lacks HELP:\n{text}"
        );
    }
    assert_eq!(metric_value(&text, scope).unwrap() - before, 1.0);
    crate::helpers::promtool_check_metrics(&text);
}

pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    send(app.client.get(app.url(path)), token).await
}

/// Sends `request`, with `Authorization: Bearer <token>` when given.
pub async fn send(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::Response {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

/// The `WWW-Authenticate` header of a response.
pub fn challenge(response: &reqwest::Response) -> String {
    response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned()
}
