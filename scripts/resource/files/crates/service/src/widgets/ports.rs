//! What the widget service needs from outside: a transactional store. The
//! `repository` crate implements it.

use async_trait::async_trait;

use super::{Widget, WidgetId};
use crate::idempotency::IdempotencyWriter;
use crate::outbox::OutboxWriter;
use crate::page::Cursor;
use crate::store::StoreError;

/// Reads and the entry point to writes.
#[async_trait]
pub trait WidgetStore: Send + Sync + 'static {
    /// Starts a transaction; nothing it writes is visible until
    /// [`WidgetTransaction::commit`].
    async fn begin(&self) -> Result<Box<dyn WidgetTransaction>, StoreError>;

    /// The widget with this id, if any.
    async fn find(&self, id: WidgetId) -> Result<Option<Widget>, StoreError>;

    /// Up to `limit` widgets created after `after` (from the start when
    /// `None`), in creation order.
    async fn list(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<Widget>, StoreError>;
}

/// One transaction. Dropping it without committing rolls it back. Events
/// are written in it through [`OutboxWriter`], idempotency keys claimed
/// through [`IdempotencyWriter`].
#[async_trait]
pub trait WidgetTransaction: OutboxWriter + IdempotencyWriter + Send {
    /// Inserts a new widget.
    async fn insert(&mut self, widget: &Widget) -> Result<(), StoreError>;

    /// Reads a widget and locks it until the transaction ends.
    async fn find_for_update(&mut self, id: WidgetId) -> Result<Option<Widget>, StoreError>;

    /// Writes every field of an existing widget.
    async fn update(&mut self, widget: &Widget) -> Result<(), StoreError>;

    /// Deletes a widget; `false` when there was none.
    async fn delete(&mut self, id: WidgetId) -> Result<bool, StoreError>;

    /// Makes the writes durable and visible.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
