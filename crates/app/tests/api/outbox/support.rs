//! What the outbox tests share: fast settings, polling the admin listing,
//! and workers built outside any app (several at once, or one that dies).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use service::breaker::{Breaker, BreakerPolicy};
use service::outbox::{DeliveryWorker, RetryPolicy, WebhookSender, WorkerSettings};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, TestAppBuilder};
use crate::webhook_receiver::{Receiver, SECRET};

/// Fast retries and polling, so the tests take milliseconds.
pub fn with_webhook(builder: TestAppBuilder, receiver: &Receiver) -> TestAppBuilder {
    builder
        .var("WEBHOOK_URL", &receiver.url)
        .var("WEBHOOK_SECRET", SECRET)
        .var("OUTBOX_POLL_INTERVAL", "20ms")
        .var("WEBHOOK_BACKOFF_BASE", "10ms")
        .var("WEBHOOK_BACKOFF_CAP", "50ms")
        .var("WEBHOOK_TIMEOUT", "1s")
        .var("OUTBOX_LEASE", "5s")
}

pub async fn events(app: &TestApp, status: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.admin_url(&format!("/admin/outbox?status={status}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// Polls until `n` events have `status`.
pub async fn until_events(app: &TestApp, status: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = events(app, status).await;
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "only {} {status} events",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn total_attempts(app: &TestApp) -> u64 {
    let response: Value = app
        .client
        .get(app.admin_url("/admin/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attempts"].as_u64().unwrap())
        .sum()
}

/// A worker built from the real stores and sender, outside any app: for
/// the cases that need several workers or one that dies mid-way.
pub fn worker(
    app: &TestApp,
    receiver: &Receiver,
    wrap: impl FnOnce(Arc<dyn WebhookSender>) -> Arc<dyn WebhookSender>,
) -> Arc<DeliveryWorker> {
    let settings = config::Settings::from_vars([
        ("DATABASE_URL", app.db.url(None)),
        ("WEBHOOK_URL", receiver.url.clone()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
    ])
    .unwrap();
    let pool = repository::database::pool(&settings.database).unwrap();
    let client =
        outbound::http::OutboundClient::new(outbound::http::ClientSettings::default()).unwrap();
    let secret = settings.webhook.secret.clone().unwrap();
    let sender: Arc<dyn WebhookSender> = Arc::new(outbound::webhook::HttpWebhookSender::new(
        client,
        settings.webhook.url.unwrap(),
        outbound::webhook::SigningKey::parse(&secret).unwrap(),
        Duration::from_secs(2),
    ));
    Arc::new(DeliveryWorker::new(
        Arc::new(repository::outbox::PgOutboxStore::new(pool)),
        wrap(sender),
        Arc::new(Breaker::new(
            "test",
            BreakerPolicy {
                window: 100,
                min_calls: 100,
                failure_rate: 1.0,
                cool_down: Duration::from_secs(1),
                half_open_calls: 1,
            },
        )),
        WorkerSettings {
            batch_size: 5,
            lease: Duration::from_millis(500),
            poll_interval: Duration::from_millis(20),
            attempt_timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(10),
                cap: Duration::from_millis(50),
            },
        },
    ))
}

pub fn spawn_worker(
    worker: Arc<DeliveryWorker>,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let cancel = cancel.clone();
    tokio::spawn(async move { worker.run(cancel).await })
}

pub fn outbox_store(app: &TestApp) -> repository::outbox::PgOutboxStore {
    let settings = config::Settings::from_vars([("DATABASE_URL", app.db.url(None))]).unwrap();
    repository::outbox::PgOutboxStore::new(repository::database::pool(&settings.database).unwrap())
}

/// An app whose own worker is off: events wait for the test's workers.
pub async fn app_without_worker() -> TestApp {
    TestApp::builder()
        .var("OUTBOX_WORKER_ENABLED", "false")
        .spawn()
        .await
}

pub async fn until_pending_with_error(app: &TestApp, needle: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = events(app, "pending")
            .await
            .into_iter()
            .find(|e| e["last_error"].as_str().is_some_and(|m| m.contains(needle)))
        {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "no pending event failed with `{needle}`"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub mod async_trait_shim {
    //! A sender that panics for the event whose data has one `id` and
    //! delegates the rest to the real HTTP sender: the panic injected into
    //! one event's handling.

    use std::sync::Arc;

    use service::outbox::{SendOutcome, WebhookMessage, WebhookSender};

    pub struct PanicOn {
        pub inner: Arc<dyn WebhookSender>,
        pub data_id: String,
    }

    #[async_trait::async_trait]
    impl WebhookSender for PanicOn {
        async fn send(&self, message: &WebhookMessage) -> SendOutcome {
            if message.data["id"] == self.data_id.as_str() {
                panic!("injected failure for event data {}", self.data_id);
            }
            self.inner.send(message).await
        }
    }
}

pub mod loop_fault {
    //! An outbox store whose first claim panics, delegating everything
    //! else to the real store.

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use service::outbox::{Claimed, EventId, EventStatus, OutboxEvent, OutboxStore, RedriveFilter};
    use service::store::StoreError;

    pub struct PanicOnFirstClaim<S> {
        inner: S,
        panicked: AtomicBool,
    }

    impl<S> PanicOnFirstClaim<S> {
        pub const fn new(inner: S) -> Self {
            Self {
                inner,
                panicked: AtomicBool::new(false),
            }
        }
    }

    #[async_trait::async_trait]
    impl<S: OutboxStore> OutboxStore for PanicOnFirstClaim<S> {
        async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
            assert!(
                self.panicked.swap(true, Ordering::SeqCst),
                "injected failure of the worker loop"
            );
            self.inner.claim(limit, lease).await
        }
        async fn mark_delivered(&self, c: &Claimed) -> Result<bool, StoreError> {
            self.inner.mark_delivered(c).await
        }
        async fn mark_retry(&self, c: &Claimed, e: &str, d: Duration) -> Result<bool, StoreError> {
            self.inner.mark_retry(c, e, d).await
        }
        async fn mark_dead(&self, c: &Claimed, e: &str) -> Result<bool, StoreError> {
            self.inner.mark_dead(c, e).await
        }
        async fn release(&self, c: &Claimed, d: Duration) -> Result<bool, StoreError> {
            self.inner.release(c, d).await
        }
        async fn list(
            &self,
            s: Option<EventStatus>,
            l: u32,
        ) -> Result<Vec<OutboxEvent>, StoreError> {
            self.inner.list(s, l).await
        }
        async fn redrive(&self, id: EventId) -> Result<bool, StoreError> {
            self.inner.redrive(id).await
        }
        async fn redrive_matching(&self, f: &RedriveFilter) -> Result<u64, StoreError> {
            self.inner.redrive_matching(f).await
        }
        async fn counts(&self) -> Result<Vec<(EventStatus, i64)>, StoreError> {
            self.inner.counts().await
        }
    }
}
