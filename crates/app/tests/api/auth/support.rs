//! A real JWKS server for the authentication tests (an axum app on port
//! 0), and keys and tokens made in the test: RSA 2048 and P-256 key pairs
//! generated with aws-lc-rs, tokens signed with jsonwebtoken.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::{Cache, TestApp};

pub const ISSUER: &str = "https://auth.test.example/";
pub const AUDIENCE: &str = "bulkhead-api";

/// A key pair made for one test, with its public half as a JWK.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    pub jwk: Jwk,
    /// The public key as PEM, as anyone may download it: the "secret" of
    /// the HMAC confusion attack.
    pub public_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

impl SigningKey {
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let private = pem("PRIVATE KEY", pair.as_der().unwrap().as_ref());
        let public = pem("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref());
        let encoding = EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
        Self::new(kid, Algorithm::RS256, encoding, public)
    }

    pub fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let private = pem("PRIVATE KEY", pair.to_pkcs8v1().unwrap().as_ref());
        let public = pem("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref());
        let encoding = EncodingKey::from_ec_pem(private.as_bytes()).unwrap();
        Self::new(kid, Algorithm::ES256, encoding, public)
    }

    fn new(kid: &str, algorithm: Algorithm, encoding: EncodingKey, public_pem: String) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            jwk,
            public_pem,
        }
    }

    /// A token with this key's algorithm and key id.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// A token signed with this key but naming key id `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// Seconds since the epoch, as in `exp`, `nbf` and `iat`.
pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The claims of a valid access token granting `scope` for five minutes.
pub fn claims(scope: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "subject-1",
        "client_id": "test-client",
        "scope": scope,
        "iat": now(),
        "exp": now() + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// `claims` with `changes` merged in (a `null` removes a claim).
pub fn claims_with(scope: &str, changes: &Value) -> Value {
    let mut claims = claims(scope);
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A token with `header` as given and no signature check possible: for
/// `alg: none` and other shapes jsonwebtoken would not make.
pub fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!(
        "{}.{}.{}",
        part(header),
        part(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An HS256 token whose HMAC key is `secret`, naming key id `kid`.
pub fn hs256(kid: &str, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

struct Published {
    keys: Mutex<Vec<Jwk>>,
    requests: AtomicUsize,
    failing: AtomicBool,
}

/// The identity provider's JWKS endpoint: serves the keys it is given,
/// counts every request, and can fail (`500`) or stop (connections
/// refused).
pub struct JwksServer {
    pub addr: SocketAddr,
    published: Arc<Published>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve_keys(State(published): State<Arc<Published>>) -> Response {
    published.requests.fetch_add(1, Ordering::SeqCst);
    if published.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONNECTION, "close")],
            "down",
        )
            .into_response();
    }
    let keys = published.keys.lock().unwrap().clone();
    Json(json!({ "keys": keys })).into_response()
}

impl JwksServer {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let published = Arc::new(Published {
            keys: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/.well-known/jwks.json", axum::routing::get(serve_keys))
            .with_state(Arc::clone(&published));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let server = Self {
            addr,
            published,
            task,
        };
        server.publish(keys);
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    /// Replaces the published keys.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.published.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// Requests served so far, failed ones included.
    pub fn requests(&self) -> usize {
        self.published.requests.load(Ordering::SeqCst)
    }

    /// Answers `500` (and closes the connection) while `failing`.
    pub fn fail(&self, failing: bool) {
        self.published.failing.store(failing, Ordering::SeqCst);
    }

    /// Stops listening: new connections are refused, and a connection
    /// still open gets one `500` and is closed.
    pub fn stop(&self) {
        self.fail(true);
        self.task.abort();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The application, with its cache off, verifying tokens against `jwks`.
pub async fn spawn_app(jwks: &JwksServer, refresh_interval: &str) -> TestApp {
    TestApp::builder()
        .cache(Cache::Off)
        .var("AUTH_JWKS_URL", &jwks.url())
        .var("AUTH_ISSUER", ISSUER)
        .var("AUTH_AUDIENCE", AUDIENCE)
        .var("AUTH_JWKS_REFRESH_INTERVAL", refresh_interval)
        .spawn()
        .await
}

/// Polls `until` every 20 ms for at most 20 s.
pub async fn eventually<F, Fut>(what: &str, mut until: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !until().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
