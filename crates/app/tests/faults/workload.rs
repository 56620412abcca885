//! The load of every scenario: users seeded through the service, and a mix
//! of cached reads of existing users, creates and patches, spread over one
//! or more replicas.
//!
//! Reads and patches use disjoint users: a patch invalidates its user's
//! cache entry, so the read users stay cached for the whole scenario and a
//! read of one is a cache hit whenever Redis answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use testkit::Load;
use testkit::load::Request;

/// Concurrent clients of every scenario.
pub const CLIENTS: usize = 24;
/// The most requests one phase may send, whatever its duration.
pub const MAX_REQUESTS_PER_PHASE: u64 = 200_000;
/// A load client's own timeout: far above `REQUEST_TIMEOUT`, so a hang
/// shows as a slow request rather than being cut by the client.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Labels of the three kinds of request.
pub const READ: &str = "read";
pub const CREATE: &str = "create";
pub const PATCH: &str = "patch";

/// Percentages of reads, creates and patches (the rest of 100 after reads
/// and creates are patches).
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub read: u64,
    pub create: u64,
}

impl Mix {
    pub const fn describe(self) -> (u64, u64, u64) {
        (self.read, self.create, 100 - self.read - self.create)
    }
}

/// The users a load works on.
#[derive(Debug, Clone, Default)]
pub struct Users {
    /// Read, never patched: cached once warmed.
    pub read: Vec<String>,
    /// Patched by the load.
    pub patch: Vec<String>,
}

/// Base URLs of the replicas taking load; a scenario removes one it kills.
pub type Targets = Arc<RwLock<Vec<String>>>;

/// A unique token per scenario run, so e-mail addresses never collide.
fn run_token() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
}

/// Creates a user through `base` and returns its id.
pub async fn create_user(client: &reqwest::Client, base: &str, email: &str, name: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/users"))
        .json(&json!({ "email": email, "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "creating {email}");
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Reads a user through `base`: its status and name.
pub async fn read_user(client: &reqwest::Client, base: &str, id: &str) -> (u16, String) {
    let response = client
        .get(format!("{base}/api/v1/users/{id}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["name"].as_str().unwrap_or_default().to_owned())
}

/// Patches a user's name through `base`; returns the status.
pub async fn rename_user(client: &reqwest::Client, base: &str, id: &str, name: &str) -> u16 {
    client
        .patch(format!("{base}/api/v1/users/{id}"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Creates `n` users through `base`, a few at a time.
pub async fn seed(client: &reqwest::Client, base: &str, label: &str, n: usize) -> Vec<String> {
    let token = run_token();
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let created = futures::future::join_all(chunk.iter().map(|i| {
            let email = format!("{label}-{token}-{i}@example.com");
            async move { create_user(client, base, &email, "Seeded").await }
        }))
        .await;
        ids.extend(created);
    }
    ids
}

/// Reads every user once, so each is in the cache.
pub async fn warm(client: &reqwest::Client, base: &str, ids: &[String]) {
    for chunk in ids.chunks(8) {
        for (status, _) in
            futures::future::join_all(chunk.iter().map(|id| read_user(client, base, id))).await
        {
            assert_eq!(status, 200, "warming the cache");
        }
    }
}

/// A cheap, well-spread hash (splitmix64) to pick each request's kind.
const fn spread(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The load: `CLIENTS` clients sending `mix` to `targets` in turn.
pub fn load(targets: Targets, users: Users, mix: Mix) -> Load {
    let token = run_token();
    let counter = AtomicU64::new(0);
    Load::new(CLIENTS, CLIENT_TIMEOUT, move |client, _, _| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let base = {
            let targets = targets.read().unwrap();
            // usize fits in u64 on every supported target.
            targets[usize::try_from(n % targets.len() as u64).unwrap()].clone()
        };
        let pick = |ids: &[String], salt: u64| {
            let i = spread(n ^ salt) % ids.len() as u64;
            ids[usize::try_from(i).unwrap()].clone()
        };
        let roll = spread(n) % 100;
        if roll < mix.read {
            let id = pick(&users.read, 1);
            Request {
                label: READ,
                builder: client.get(format!("{base}/api/v1/users/{id}")),
            }
        } else if roll < mix.read + mix.create {
            Request {
                label: CREATE,
                builder: client.post(format!("{base}/api/v1/users")).json(
                    &json!({ "email": format!("load-{token}-{n}@example.com"), "name": "Load" }),
                ),
            }
        } else {
            let id = pick(&users.patch, 2);
            Request {
                label: PATCH,
                builder: client
                    .patch(format!("{base}/api/v1/users/{id}"))
                    .json(&json!({ "name": format!("Patched {n}") })),
            }
        }
    })
    .unwrap()
}

/// Targets of one replica.
pub fn one(base: String) -> Targets {
    Arc::new(RwLock::new(vec![base]))
}
