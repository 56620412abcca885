//! The middleware with a verifier that answers from a table, driven with
//! `oneshot`: which challenge and problem each refusal gets.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use serde_json::Value;
use service::auth::{Principal, Scopes, TokenError, TokenVerifier};
use tower::ServiceExt as _;

use super::{Auth, Credentials, Guard, RouteScopes, credentials, require};
use crate::problem;

const SCOPES: RouteScopes = RouteScopes {
    read: "things:read",
    write: "things:write",
};

struct Table;

#[async_trait]
impl TokenVerifier for Table {
    async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let principal = |scope: &str| Principal {
            subject: format!("{token}-subject"),
            scopes: Scopes::parse(scope),
        };
        match token {
            "reader" => Ok(principal("things:read")),
            "writer" => Ok(principal("things:write")),
            "expired" => Err(TokenError::Expired),
            "early" => Err(TokenError::KeysUnavailable),
            _ => Err(TokenError::Signature),
        }
    }
}

fn app(auth: Auth) -> Router {
    Router::new()
        .route(
            "/things",
            get(|principal: Option<Extension<Principal>>| async move {
                principal.map(|Extension(p)| p.subject).unwrap_or_default()
            })
            .post(|| async { "posted" }),
        )
        .route_layer(from_fn_with_state(Guard::new(auth, SCOPES), require))
        .layer(from_fn(problem::render_errors))
}

async fn call(auth: Auth, method: &str, authorization: &[&str]) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri("/things");
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    let response = app(auth)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

fn bearer() -> Auth {
    Auth::bearer(Arc::new(Table))
}

fn challenge(headers: &HeaderMap) -> &str {
    headers[header::WWW_AUTHENTICATE].to_str().unwrap()
}

fn assert_problem(headers: &HeaderMap, body: &Value, status: StatusCode) {
    assert_eq!(headers[header::CONTENT_TYPE], problem::CONTENT_TYPE);
    assert_eq!(body["status"], status.as_u16(), "{body}");
}

#[tokio::test]
async fn an_open_api_lets_everything_through() {
    for authorization in [&[][..], &["Bearer garbage"]] {
        let (status, _, _) = call(Auth::Open, "POST", authorization).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_token_with_the_scope_passes_with_its_principal() {
    let (status, _, body) = call(bearer(), "GET", &["Bearer reader"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "reader-subject");
    // The scheme is case-insensitive.
    let (status, _, _) = call(bearer(), "POST", &["bearer writer"]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn no_bearer_credentials_get_a_bare_challenge() {
    for authorization in [&[][..], &["Basic dXNlcjpwYXNz"]] {
        let (status, headers, body) = call(bearer(), "GET", authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&headers), "Bearer");
        assert_problem(&headers, &body, status);
    }
}

#[tokio::test]
async fn a_refused_or_malformed_token_is_invalid_token() {
    let cases: &[(&[&str], &str)] = &[
        (&["Bearer forged"], "the token's signature is not valid"),
        (&["Bearer expired"], "the token has expired"),
        (&["Bearer"], "the token is not a well-formed JWT"),
        (&["Bearer a b"], "the token is not a well-formed JWT"),
        (
            &["Bearer reader", "Bearer writer"],
            "the token is not a well-formed JWT",
        ),
    ];
    for (authorization, description) in cases {
        let (status, headers, body) = call(bearer(), "GET", authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            challenge(&headers),
            format!(r#"Bearer error="invalid_token", error_description="{description}""#)
        );
        assert_problem(&headers, &body, status);
        assert_eq!(body["type"], "/problems/invalid-token");
        assert_eq!(body["detail"], *description);
    }
}

#[tokio::test]
async fn a_token_without_the_scope_is_403_naming_it() {
    let (status, headers, body) = call(bearer(), "POST", &["Bearer reader"]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&headers),
        r#"Bearer error="insufficient_scope", scope="things:write""#
    );
    assert_problem(&headers, &body, status);
    assert_eq!(body["type"], "/problems/insufficient-scope");

    // Writing does not imply reading.
    let (status, headers, _) = call(bearer(), "GET", &["Bearer writer"]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&headers),
        r#"Bearer error="insufficient_scope", scope="things:read""#
    );
}

#[tokio::test]
async fn without_keys_the_answer_is_503_with_retry_after() {
    let (status, headers, body) = call(bearer(), "GET", &["Bearer early"]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(!headers.contains_key(header::WWW_AUTHENTICATE));
    assert_problem(&headers, &body, status);
    assert_eq!(body["type"], "/problems/auth-unavailable");
}

#[test]
fn credentials_are_read_from_one_authorization_header() {
    let headers = |values: &[&str]| {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, v.parse().unwrap());
        }
        map
    };
    assert_eq!(credentials(&headers(&[])), Credentials::Missing);
    assert_eq!(credentials(&headers(&["Basic abc"])), Credentials::Missing);
    assert_eq!(
        credentials(&headers(&["Bearer abc"])),
        Credentials::Bearer("abc")
    );
    assert_eq!(
        credentials(&headers(&["BEARER  abc "])),
        Credentials::Bearer("abc")
    );
    assert_eq!(credentials(&headers(&["Bearer "])), Credentials::Malformed);
    assert_eq!(
        credentials(&headers(&["Bearer a b"])),
        Credentials::Malformed
    );
    assert_eq!(
        credentials(&headers(&["Bearer a", "Bearer b"])),
        Credentials::Malformed
    );
}
