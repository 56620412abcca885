//! The identity provider as a dependency, over the users routes: a new key
//! is fetched once, made-up key ids never make the service hammer the
//! provider, cached keys outlive an outage, and start-up never waits for
//! the provider, each with its status, problem and metrics.

use reqwest::{StatusCode, header};
use serde_json::json;

use crate::auth::support::{JwksServer, SigningKey, claims, eventually, spawn_app, unsigned};
use crate::helpers::{assert_problem, metric_value};
use crate::users_auth::{READ, assert_invalid_token, get, wait_for_keys};

#[tokio::test]
async fn a_new_key_is_fetched_once_and_made_up_key_ids_never_hammer_the_provider() {
    let old = SigningKey::rsa("old");
    let new = SigningKey::ec("new");
    let later = SigningKey::ec("later");
    let forger = SigningKey::ec("forger");
    let jwks = JwksServer::start(&[&old]).await;
    let app = spawn_app(&jwks, "1h").await;
    wait_for_keys(&app, &old.sign(&claims(READ))).await;
    assert_eq!(jwks.requests(), 1);
    let unknown = r#"auth_failures_total{reason="unknown_key"}"#;
    let fetched = &[("trigger", "unknown_key"), ("result", "success")];
    let before = app.metrics().await;

    // The provider rotates: the first token signed with the new key makes
    // the service fetch the keys again, once, and passes.
    jwks.publish(&[&old, &new]);
    let response = get(&app, "/api/v1/users", Some(&new.sign(&claims(READ)))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(jwks.requests(), 2);

    // A flood of made-up key ids within the interval fetches nothing
    // more: each is refused at once.
    let flood: Vec<_> = (0..50)
        .map(|i| {
            let token = forger.sign_as(&format!("made-up-{i}"), &claims(READ));
            let request = app.client.get(app.url("/api/v1/users")).bearer_auth(token);
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    for response in flood {
        let response = response.await.unwrap();
        let challenge = assert_invalid_token(response).await;
        assert!(
            challenge.contains("not signed by a known key"),
            "{challenge}"
        );
    }
    assert_eq!(jwks.requests(), 2);

    // Even a genuinely new key waits for the next scheduled refresh (or
    // the next interval): the rate limit does not tell forgers from
    // rotations.
    jwks.publish(&[&old, &new, &later]);
    let response = get(&app, "/api/v1/users", Some(&later.sign(&claims(READ)))).await;
    assert_invalid_token(response).await;
    assert_eq!(jwks.requests(), 2);
    // The keys in use still work.
    let response = get(&app, "/api/v1/users", Some(&old.sign(&claims(READ)))).await;
    assert_eq!(response.status(), StatusCode::OK);

    let after = app.metrics().await;
    let delta = |text: &str| metric_value(text, unknown).unwrap();
    assert_eq!(delta(&after) - delta(&before), 51.0, "{after}");
    let refreshes = |text: &str| series_value(text, "jwks_refreshes_total", fetched).unwrap();
    assert_eq!(refreshes(&after) - refreshes(&before), 1.0, "{after}");
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_provider_is_down() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    // Refreshed every second, so the outage is noticed within the test.
    let app = spawn_app(&jwks, "1s").await;
    let token = rsa.sign(&claims(READ));
    wait_for_keys(&app, &token).await;

    let failures = |text: String| {
        series_value(
            &text,
            "jwks_refreshes_total",
            &[("trigger", "scheduled"), ("result", "failure")],
        )
        .unwrap()
    };
    let before = failures(app.metrics().await);
    jwks.stop();
    eventually("two scheduled refreshes have failed", || async {
        failures(app.metrics().await) >= before + 2.0
    })
    .await;

    for _ in 0..5 {
        let response = get(&app, "/api/v1/users", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // An unknown key id tries the provider (down) and is refused as
    // unknown, promptly: not a 503, not a hang.
    let started = std::time::Instant::now();
    let stranger = SigningKey::ec("stranger").sign(&claims(READ));
    assert_invalid_token(get(&app, "/api/v1/users", Some(&stranger)).await).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let response = get(&app, "/api/v1/users", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn start_up_does_not_wait_for_the_provider_and_tokens_get_503_until_the_keys_arrive() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    jwks.fail(true);
    let app = spawn_app(&jwks, "1h").await;
    eventually("start-up has finished", || async {
        app.get("/startupz").await.status() == StatusCode::OK
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    let token = rsa.sign(&claims(READ));
    let response = get(&app, "/api/v1/users", Some(&token)).await;
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    let body = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["type"], "/problems/auth-unavailable");
    // What can be refused without keys still is: no token, a bad token.
    assert_eq!(
        get(&app, "/api/v1/users", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let none = unsigned(&json!({ "alg": "none" }), &claims(READ), b"");
    assert_invalid_token(get(&app, "/api/v1/users", Some(&none)).await).await;

    // The provider comes back: the background retries (0.5 s, 1 s, ...)
    // load the keys without any request's help.
    jwks.fail(false);
    wait_for_keys(&app, &token).await;
    let response = get(&app, "/api/v1/users", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The value of the series of `name` carrying every label of `labels`,
/// whatever their order.
pub fn series_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (inside, value) = rest.split_once("} ")?;
        let found: Vec<&str> = inside.split(',').collect();
        labels
            .iter()
            .all(|(k, v)| found.contains(&format!("{k}=\"{v}\"").as_str()))
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}
