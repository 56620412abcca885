//! [`WidgetService`]: the use cases. It owns the transactions and the
//! mapping of store failures to [`WidgetError`].

use std::sync::Arc;
use std::time::Duration;

use super::events;
use super::{NewWidget, Widget, WidgetId, WidgetPatch, WidgetStore};
use crate::clock::now;
use crate::idempotency::{Claim, Fingerprint, IdempotencyKey, KeyedRequest, StoredAnswer};
use crate::page::{Cursor, Page, PageLimit};
use crate::store::StoreError;

/// A use case's failure, in the terms a caller branches on.
#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    /// No widget has this id.
    #[error("widget not found")]
    NotFound,
    /// The idempotency key was used before for another request.
    #[error("idempotency key reused for another request")]
    KeyReused,
    /// The first request with this idempotency key is still in flight.
    #[error("a request with this idempotency key is in flight")]
    KeyInFlight,
    /// The store is unreachable or overloaded; retry later.
    #[error("widget store unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else. The cause is for the log, not for the client.
    #[error("unexpected failure")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for WidgetError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UniqueViolation { constraint } => Self::Internal(anyhow::anyhow!(
                "unexpected unique violation on `{constraint}`"
            )),
            StoreError::Unavailable(source) => Self::Unavailable(source),
            StoreError::Other(source) => Self::Internal(source),
        }
    }
}

/// The idempotency scope of widget creation.
const CREATE_OPERATION: &str = "widgets.create";

/// What a create with an idempotency key came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new widget, whose answer was stored with the key.
    New(Widget),
    /// The same request was answered before: its answer, to send again.
    Replayed(StoredAnswer),
}

/// The widget use cases.
pub struct WidgetService {
    store: Arc<dyn WidgetStore>,
    idempotency_ttl: Duration,
}

impl std::fmt::Debug for WidgetService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetService").finish_non_exhaustive()
    }
}

impl WidgetService {
    /// A service over `store`.
    pub fn new(store: Arc<dyn WidgetStore>) -> Self {
        Self {
            store,
            idempotency_ttl: Duration::from_secs(24 * 3600),
        }
    }

    /// The same service, keeping idempotency keys for `ttl`.
    #[must_use]
    pub const fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// Creates a widget with a new id, and its `widget.created` outbox
    /// event in the same transaction (so are `widget.updated` and
    /// `widget.deleted`).
    ///
    /// # Errors
    /// `Unavailable` or `Internal` when the store fails.
    pub async fn create(&self, new: NewWidget) -> Result<Widget, WidgetError> {
        let widget = Widget::create(new, now());
        let mut tx = self.store.begin().await?;
        tx.insert(&widget).await?;
        // Same transaction: once the caller hears "created", the event
        // exists too, whatever happens to this process next.
        tx.enqueue(&events::created(&widget)).await?;
        tx.commit().await?;
        tracing::info!(widget_id = %widget.id, "widget created");
        Ok(widget)
    }

    /// Creates a widget at most once per idempotency `key`: the first
    /// request creates it and stores `answer(&widget)` with the key in the
    /// same transaction; the same request again gets that answer back.
    ///
    /// # Errors
    /// [`WidgetError::KeyReused`] when the key came with another name,
    /// [`WidgetError::KeyInFlight`] when its first request has not
    /// finished, and the errors of [`WidgetService::create`].
    pub async fn create_once(
        &self,
        new: NewWidget,
        key: IdempotencyKey,
        answer: impl FnOnce(&Widget) -> StoredAnswer + Send,
    ) -> Result<Created, WidgetError> {
        let request = KeyedRequest {
            key,
            operation: CREATE_OPERATION,
            fingerprint: Fingerprint::of(&[new.name.as_str()]),
            expires_at: now() + self.idempotency_ttl,
        };
        let mut tx = self.store.begin().await?;
        match tx.claim(&request).await? {
            Claim::Fresh => {}
            Claim::Replay(answer) => {
                metrics::counter!("idempotency_replays_total").increment(1);
                return Ok(Created::Replayed(answer));
            }
            Claim::Mismatch => return Err(WidgetError::KeyReused),
            Claim::InFlight => return Err(WidgetError::KeyInFlight),
        }
        let widget = Widget::create(new, now());
        tx.insert(&widget).await?;
        tx.enqueue(&events::created(&widget)).await?;
        tx.save_answer(&request, &answer(&widget)).await?;
        tx.commit().await?;
        tracing::info!(widget_id = %widget.id, "widget created");
        Ok(Created::New(widget))
    }

    /// The widget with this id.
    ///
    /// # Errors
    /// [`WidgetError::NotFound`], or a store failure.
    pub async fn get(&self, id: WidgetId) -> Result<Widget, WidgetError> {
        self.store.find(id).await?.ok_or(WidgetError::NotFound)
    }

    /// One page of widgets in creation order.
    ///
    /// # Errors
    /// A store failure.
    pub async fn list(
        &self,
        after: Option<Cursor>,
        limit: PageLimit,
    ) -> Result<Page<Widget>, WidgetError> {
        let rows = self.store.list(after, limit.rows_to_fetch()).await?;
        Ok(Page::from_rows(rows, limit, |widget| {
            Cursor::after(widget.created_at, widget.id.as_uuid())
        }))
    }

    /// Changes a widget.
    ///
    /// The row is locked while the patch is applied, so concurrent patches
    /// to different fields both land. A patch that changes nothing writes
    /// nothing and keeps `updated_at`.
    ///
    /// # Errors
    /// [`WidgetError::NotFound`], or a store failure.
    pub async fn update(&self, id: WidgetId, patch: WidgetPatch) -> Result<Widget, WidgetError> {
        let mut tx = self.store.begin().await?;
        let mut widget = tx.find_for_update(id).await?.ok_or(WidgetError::NotFound)?;
        if !widget.apply(patch, now()) {
            return Ok(widget);
        }
        tx.update(&widget).await?;
        tx.enqueue(&events::updated(&widget)).await?;
        tx.commit().await?;
        tracing::info!(widget_id = %id, "widget updated");
        Ok(widget)
    }

    /// Deletes a widget.
    ///
    /// # Errors
    /// [`WidgetError::NotFound`] when there is none, or a store failure.
    pub async fn delete(&self, id: WidgetId) -> Result<(), WidgetError> {
        let mut tx = self.store.begin().await?;
        // Locked first, so the event records the widget that was deleted.
        let widget = tx.find_for_update(id).await?.ok_or(WidgetError::NotFound)?;
        if !tx.delete(id).await? {
            return Err(WidgetError::NotFound);
        }
        tx.enqueue(&events::deleted(&widget, now())).await?;
        tx.commit().await?;
        tracing::info!(widget_id = %id, "widget deleted");
        Ok(())
    }
}
