//! The webhook receiver: an axum server on loopback that verifies each
//! Standard Webhooks signature, answers `204`, and records when each
//! `webhook-id` (and each user's `user.created`) arrived, on the driver's
//! clock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::sync::watch;
use uuid::Uuid;

/// What arrived so far.
#[derive(Debug, Default)]
struct Seen {
    /// Requests received, repeats included.
    requests: u64,
    /// Requests whose signature did not verify (answered `400`).
    bad_signatures: u64,
    /// Distinct `webhook-id`s.
    ids: HashSet<Uuid>,
    /// When each user's `user.created` first arrived.
    created: HashMap<Uuid, Instant>,
    /// Arrival of the first and the latest new `webhook-id`.
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Counts at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) distinct: u64,
    pub(crate) bad_signatures: u64,
    pub(crate) first: Option<Instant>,
    pub(crate) last: Option<Instant>,
}

impl Counts {
    /// Requests beyond the first one per `webhook-id`.
    pub(crate) const fn duplicates(&self) -> u64 {
        self.requests
            .saturating_sub(self.bad_signatures)
            .saturating_sub(self.distinct)
    }
}

#[derive(Clone)]
struct Shared {
    key: Arc<Vec<u8>>,
    seen: Arc<Mutex<Seen>>,
    /// Bumped on every new `webhook-id`, so waiters wake without polling.
    changed: Arc<watch::Sender<u64>>,
}

/// A running receiver; stops when the driver exits.
#[derive(Clone)]
pub(crate) struct Receiver {
    shared: Shared,
}

impl Receiver {
    /// Serves `POST /webhook` on `addr`, verifying signatures with the
    /// `whsec_` secret.
    pub(crate) async fn start(addr: &str, secret: &str) -> anyhow::Result<Self> {
        let key = STANDARD.decode(secret.trim_start_matches("whsec_"))?;
        let shared = Shared {
            key: Arc::new(key),
            seen: Arc::default(),
            changed: Arc::new(watch::Sender::new(0)),
        };
        let app = axum::Router::new()
            .route("/webhook", axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("the receiver stopped: {err}");
            }
        });
        Ok(Self { shared })
    }

    /// Forgets everything received so far.
    pub(crate) fn reset(&self) {
        *self.shared.seen.lock().unwrap() = Seen::default();
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> Counts {
        let seen = self.shared.seen.lock().unwrap();
        Counts {
            requests: seen.requests,
            distinct: seen.ids.len() as u64,
            bad_signatures: seen.bad_signatures,
            first: seen.first,
            last: seen.last,
        }
    }

    /// When `user`'s `user.created` arrived, waiting up to `timeout`.
    pub(crate) async fn created_at(&self, user: Uuid, timeout: Duration) -> Option<Instant> {
        let mut changes = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if let Some(at) = self.shared.seen.lock().unwrap().created.get(&user) {
                    return *at;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Waits until `n` distinct ids arrived, up to `timeout`; the counts
    /// then (or at the timeout).
    pub(crate) async fn until_distinct(&self, n: u64, timeout: Duration) -> Counts {
        let mut changes = self.shared.changed.subscribe();
        let wait = async {
            while self.counts().distinct < n {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        self.counts()
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = header("webhook-id").and_then(|v| Uuid::parse_str(v).ok());
    let verified = match (id, header("webhook-timestamp"), header("webhook-signature")) {
        (Some(id), Some(timestamp), Some(signature)) => {
            verify(&shared.key, &id.to_string(), timestamp, &body, signature)
        }
        _ => false,
    };
    let created_user = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .filter(|event| event["type"] == "user.created")
        .and_then(|event| event["data"]["id"].as_str().and_then(|s| s.parse().ok()));

    let mut seen = shared.seen.lock().unwrap();
    seen.requests += 1;
    let (Some(id), true) = (id, verified) else {
        seen.bad_signatures += 1;
        return StatusCode::BAD_REQUEST;
    };
    if seen.ids.insert(id) {
        seen.first.get_or_insert(at);
        seen.last = Some(at);
        if let Some(user) = created_user {
            seen.created.entry(user).or_insert(at);
        }
        let distinct = seen.ids.len() as u64;
        drop(seen);
        shared.changed.send_replace(distinct);
    }
    StatusCode::NO_CONTENT
}

/// Standard Webhooks: one of the space-separated `v1,<base64>` values is
/// the HMAC-SHA256 of `{id}.{timestamp}.{body}`.
fn verify(key: &[u8], id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|given| given.as_slice() == expected.as_slice())
}
