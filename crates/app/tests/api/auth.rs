//! Bearer-token verification without any protected route: the service's
//! verifier (`service::auth::JwtVerifier` over a `KeyCache` fed by the
//! real HTTP key source) against a real JWKS server started in the test
//! (`support`), with RSA and P-256 keys made in the test; the identity
//! provider as a dependency (a new key fetched once, made-up key ids never
//! hammering it, cached keys outliving an outage, nothing to verify with
//! until the first fetch); and the auth metrics and start-up line of the
//! running service. How a refusal answers over HTTP is the handler's
//! (`handler::auth` tests); each resource's tests check its scopes.

pub mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use outbound::http::{ClientSettings, OutboundClient};
use outbound::jwks::HttpKeySource;
use reqwest::StatusCode;
use serde_json::json;
use service::auth::{JwtVerifier, KeyCache, RefreshPolicy, TokenError, TokenVerifier as _};
use tokio_util::sync::CancellationToken;

use self::support::{
    AUDIENCE, ISSUER, JwksServer, SigningKey, claims, claims_with, eventually, hs256, now,
    spawn_app, unsigned,
};
use crate::binary::{Binary, Stdout};
use crate::helpers::metric_value;

const SCOPE: &str = "things:read";

/// The verifier the binary builds for `jwks`, its keys refreshed in the
/// background every `interval` until dropped.
struct Verifier {
    verifier: JwtVerifier,
    keys: Arc<KeyCache>,
    cancel: CancellationToken,
}

impl Verifier {
    fn start(jwks: &JwksServer, interval: Duration) -> Self {
        let client = OutboundClient::new(ClientSettings {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            ..ClientSettings::default()
        })
        .unwrap();
        let source = Arc::new(HttpKeySource::new(
            client,
            url::Url::parse(&jwks.url()).unwrap(),
            Duration::from_secs(2),
        ));
        let keys = Arc::new(KeyCache::new(source, RefreshPolicy::every(interval)));
        let cancel = CancellationToken::new();
        tokio::spawn({
            let (keys, cancel) = (Arc::clone(&keys), cancel.clone());
            async move { keys.run(cancel).await }
        });
        Self {
            verifier: JwtVerifier::new(Arc::clone(&keys), ISSUER, AUDIENCE),
            keys,
            cancel,
        }
    }

    async fn loaded(jwks: &JwksServer, interval: Duration) -> Self {
        let verifier = Self::start(jwks, interval);
        eventually("the keys are loaded", || async {
            verifier.keys.is_loaded()
        })
        .await;
        verifier
    }

    async fn verify(&self, token: &str) -> Result<service::auth::Principal, TokenError> {
        self.verifier.verify(token).await
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test]
async fn tokens_signed_with_rsa_or_ec_keys_are_verified_with_their_scopes() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let jwks = JwksServer::start(&[&rsa, &ec]).await;
    let verifier = Verifier::loaded(&jwks, Duration::from_secs(3600)).await;
    for token in [
        rsa.sign(&claims(SCOPE)),
        ec.sign(&claims("things:read things:write")),
    ] {
        let principal = verifier.verify(&token).await.unwrap();
        assert_eq!(principal.subject, "subject-1");
        assert!(principal.scopes.contains(SCOPE), "{principal:?}");
    }
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn tokens_that_break_a_rule_are_refused_naming_the_rule() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let stranger = SigningKey::rsa("stranger");
    let jwks = JwksServer::start(&[&rsa, &ec]).await;
    let verifier = Verifier::loaded(&jwks, Duration::from_secs(3600)).await;

    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "another issuer",
            rsa.sign(&claims_with(
                SCOPE,
                &json!({ "iss": "https://evil.example/" }),
            )),
            TokenError::Issuer,
        ),
        (
            "another audience",
            rsa.sign(&claims_with(SCOPE, &json!({ "aud": "another-api" }))),
            TokenError::Audience,
        ),
        (
            "audiences without ours",
            ec.sign(&claims_with(SCOPE, &json!({ "aud": ["a", "b"] }))),
            TokenError::Audience,
        ),
        (
            "expired beyond the leeway",
            rsa.sign(&claims_with(SCOPE, &json!({ "exp": now() - 60 }))),
            TokenError::Expired,
        ),
        (
            "not yet valid beyond the leeway",
            ec.sign(&claims_with(SCOPE, &json!({ "nbf": now() + 60 }))),
            TokenError::NotYetValid,
        ),
        (
            "no exp",
            rsa.sign(&claims_with(SCOPE, &json!({ "exp": null }))),
            TokenError::Claims,
        ),
        (
            "no sub",
            rsa.sign(&claims_with(SCOPE, &json!({ "sub": null }))),
            TokenError::Claims,
        ),
        (
            "signed by another key under a known key id",
            stranger.sign_as("rsa-1", &claims(SCOPE)),
            TokenError::Signature,
        ),
        (
            "alg none",
            unsigned(
                &json!({ "alg": "none", "typ": "JWT", "kid": "rsa-1" }),
                &claims(SCOPE),
                b"",
            ),
            TokenError::Algorithm,
        ),
        (
            "HS256 keyed with the RSA public key (PEM)",
            hs256("rsa-1", rsa.public_pem.as_bytes(), &claims(SCOPE)),
            TokenError::Algorithm,
        ),
        (
            "HS256 keyed with the EC public key (PEM)",
            hs256("ec-1", ec.public_pem.as_bytes(), &claims(SCOPE)),
            TokenError::Algorithm,
        ),
        (
            "ES256 in the header of an RSA key",
            ec.sign_as("rsa-1", &claims(SCOPE)),
            TokenError::Algorithm,
        ),
        (
            "RS256 in the header of an EC key",
            stranger.sign_as("ec-1", &claims(SCOPE)),
            TokenError::Algorithm,
        ),
        ("not a JWT", "abc.def".to_owned(), TokenError::Malformed),
    ];
    for (case, token, refusal) in &cases {
        assert_eq!(
            verifier.verify(token).await.unwrap_err(),
            *refusal,
            "{case}"
        );
    }

    // Within the 30 s leeway, a token just past `exp` or just before
    // `nbf` still passes; so does a list of audiences holding ours.
    let within = [
        rsa.sign(&claims_with(SCOPE, &json!({ "exp": now() - 10 }))),
        ec.sign(&claims_with(SCOPE, &json!({ "nbf": now() + 10 }))),
        rsa.sign(&claims_with(SCOPE, &json!({ "aud": ["other", AUDIENCE] }))),
    ];
    for token in &within {
        assert!(verifier.verify(token).await.is_ok());
    }
    // None of these made the verifier fetch the keys again.
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn a_new_key_is_fetched_once_and_made_up_key_ids_never_hammer_the_provider() {
    let old = SigningKey::rsa("old");
    let new = SigningKey::ec("new");
    let forger = SigningKey::ec("forger");
    let jwks = JwksServer::start(&[&old]).await;
    let verifier = Verifier::loaded(&jwks, Duration::from_secs(3600)).await;
    assert_eq!(jwks.requests(), 1);

    // The provider rotates: the first token signed with the new key makes
    // the verifier fetch the keys again, once, and passes.
    jwks.publish(&[&old, &new]);
    assert!(verifier.verify(&new.sign(&claims(SCOPE))).await.is_ok());
    assert_eq!(jwks.requests(), 2);

    // A flood of made-up key ids within the interval fetches nothing
    // more: each is refused at once.
    let started = Instant::now();
    for i in 0..50 {
        let token = forger.sign_as(&format!("made-up-{i}"), &claims(SCOPE));
        assert_eq!(
            verifier.verify(&token).await.unwrap_err(),
            TokenError::UnknownKey
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(jwks.requests(), 2, "made-up key ids reached the provider");
    assert!(verifier.verify(&old.sign(&claims(SCOPE))).await.is_ok());
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_provider_is_down() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    // Refreshed every second, so the outage is met within the test.
    let verifier = Verifier::loaded(&jwks, Duration::from_secs(1)).await;
    let token = rsa.sign(&claims(SCOPE));
    let before = jwks.requests();
    jwks.fail(true);
    eventually("two scheduled refreshes have been tried", || async {
        jwks.requests() >= before + 2
    })
    .await;

    // Down for good: connections are refused from now on.
    jwks.stop();
    for _ in 0..5 {
        assert!(verifier.verify(&token).await.is_ok());
    }
    // An unknown key id tries the provider (down) and is refused as
    // unknown, promptly: not unavailable, not a hang.
    let started = Instant::now();
    let stranger = SigningKey::ec("stranger").sign(&claims(SCOPE));
    assert_eq!(
        verifier.verify(&stranger).await.unwrap_err(),
        TokenError::UnknownKey
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn until_the_first_fetch_nothing_can_be_verified_and_the_keys_arrive_by_themselves() {
    let rsa = SigningKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&rsa]).await;
    jwks.fail(true);
    let verifier = Verifier::start(&jwks, Duration::from_secs(3600));
    let token = rsa.sign(&claims(SCOPE));
    eventually("the first fetch has been tried", || async {
        jwks.requests() >= 1
    })
    .await;
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        TokenError::KeysUnavailable
    );
    // What can be refused without keys still is.
    let none = unsigned(&json!({ "alg": "none" }), &claims(SCOPE), b"");
    assert_ne!(
        verifier.verify(&none).await.unwrap_err(),
        TokenError::KeysUnavailable
    );

    // The provider comes back: the background retries (0.5 s, 1 s, ...)
    // load the keys without any verification's help.
    jwks.fail(false);
    eventually("the keys are loaded", || async {
        verifier.keys.is_loaded()
    })
    .await;
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn the_auth_metrics_are_registered_described_and_pass_promtool() {
    let ec = SigningKey::ec("ec-1");
    let jwks = JwksServer::start(&[&ec]).await;
    let app = spawn_app(&jwks, "1h").await;
    eventually("start-up has finished", || async {
        app.get("/startupz").await.status() == StatusCode::OK
    })
    .await;
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
        "insufficient_scope",
    ] {
        let series = format!(r#"auth_failures_total{{reason="{reason}"}}"#);
        assert_eq!(metric_value(&text, &series), Some(0.0), "{series}:\n{text}");
    }
    for name in ["auth_failures_total", "jwks_refreshes_total", "jwks_keys"] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} lacks HELP:\n{text}"
        );
    }
    crate::helpers::promtool_check_metrics(&text);
}

const OPEN_WARNING: &str = "AUTH_JWKS_URL is unset: the API accepts every request without a token; set AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE to require bearer tokens";

#[tokio::test]
async fn without_a_jwks_url_start_up_warns_once_that_the_api_is_open() {
    // Reachable from other hosts: the open API is worth a warning. (On
    // loopback only, a local run, it is an info line: see first_run.rs.)
    let port = crate::binary::free_addr().await.port();
    let http_addr = format!("0.0.0.0:{port}");
    let binary = Binary::start(&[("HTTP_ADDR", &http_addr)], Stdout::Collect).await;
    // The document of an open API asks for no token.
    let response = binary.get("/openapi.json").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(
        !doc.to_string().contains(r#""security":"#),
        "an open API's document asks for a token"
    );
    let warnings = binary.events(OPEN_WARNING);
    assert_eq!(warnings.len(), 1, "{}", binary.lines().join("\n"));
    assert_eq!(warnings[0]["level"], "WARN");
}
