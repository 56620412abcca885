//! What the tests of the users example need beyond the generic harness:
//! creating a user and reading its cache entry, in-process
//! ([`UsersApi`]) and in the real binary ([`UsersBinary`]).

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::app::TestApp;
use crate::binary::Binary;

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

/// The users API of the real binary ([`Binary`]).
#[allow(async_fn_in_trait)]
pub trait UsersBinary {
    /// Creates a user and returns its id, failing the test on anything but
    /// `201`.
    async fn create_user(&self, email: &str) -> String;
}

impl UsersBinary for Binary {
    async fn create_user(&self, email: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/users"))
            .json(&json!({ "email": email, "name": "Slow" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }
}
