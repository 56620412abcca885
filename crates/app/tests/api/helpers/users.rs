//! What the tests of the users example need beyond the generic harness:
//! creating a user, reading its cache entry, locking its row.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::app::TestApp;
use super::database::TestDb;

/// The users API and cache of a [`TestApp`].
#[allow(async_fn_in_trait)]
pub trait UsersApi {
    /// Creates a user and returns its body, failing the test on anything
    /// but `201`.
    async fn create_user(&self, email: &str, name: &str) -> Value;
    /// The Redis key the application uses for a user.
    fn cache_key(&self, id: &str) -> String;
    /// The cached user as the service would read it: `None` without an
    /// entry of the current epoch with data (missing, a marker, or an entry
    /// of an older epoch).
    async fn cached_user(&self, id: &str) -> Option<Value>;
    /// The raw entry of a user: epoch, version, and JSON (empty for a
    /// marker).
    async fn cache_entry(&self, id: &str) -> Option<(String, String, String)>;
}

impl UsersApi for TestApp {
    async fn create_user(&self, email: &str, name: &str) -> Value {
        let response = self
            .post_json("/api/v1/users", &json!({ "email": email, "name": name }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    fn cache_key(&self, id: &str) -> String {
        format!("{}:user:v2:{id}", self.cache_prefix)
    }

    async fn cached_user(&self, id: &str) -> Option<Value> {
        let (epoch, _version, json) = self.cache_entry(id).await?;
        let current: Option<String> = redis::cmd("GET")
            .arg(format!("{}:epoch", self.cache_prefix))
            .query_async(&mut self.redis().await)
            .await
            .unwrap();
        (current.as_deref() == Some(epoch.as_str()) && !json.is_empty())
            .then(|| serde_json::from_str(&json).unwrap())
    }

    async fn cache_entry(&self, id: &str) -> Option<(String, String, String)> {
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.cache_key(id))
            .query_async(&mut self.redis().await)
            .await
            .unwrap();
        let raw = raw?;
        let mut parts = raw.splitn(3, ' ');
        Some((
            parts.next()?.to_owned(),
            parts.next()?.to_owned(),
            parts.next()?.to_owned(),
        ))
    }
}

/// Locks a user's row in a transaction of the test's own, so that a
/// request touching it waits: a slow request on demand.
pub async fn lock_user_row(db: &TestDb, id: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = db.pool().await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}
