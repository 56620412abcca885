//! [`PgWidgetStore`]: the widgets table behind `service::widgets::WidgetStore`.

use async_trait::async_trait;
use service::page::Cursor;
use service::store::StoreError;
use service::widgets::{Widget, WidgetId, WidgetName, WidgetStore, WidgetTransaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::database::{Pool, store_error};
use crate::transaction::PgTransaction;

/// The widgets table.
#[derive(Debug, Clone)]
pub struct PgWidgetStore {
    pool: Pool,
}

impl PgWidgetStore {
    /// A store over `pool`.
    pub const fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn error(&self, err: sqlx::Error) -> StoreError {
        store_error(err, Some(self.pool.connections()))
    }
}

/// A row as stored.
struct WidgetRow {
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<WidgetRow> for Widget {
    type Error = StoreError;

    /// Stored values are re-validated: a row written around the service
    /// (by hand, by an old release) surfaces as an error, not as a widget
    /// that breaks the domain's rules.
    fn try_from(row: WidgetRow) -> Result<Self, StoreError> {
        let invalid = |what: &str| {
            StoreError::Other(anyhow::anyhow!(
                "widget {} has an invalid {what} in the database",
                row.id
            ))
        };
        Ok(Self {
            id: WidgetId::from_uuid(row.id),
            name: WidgetName::parse(&row.name).map_err(|_| invalid("name"))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[async_trait]
impl WidgetStore for PgWidgetStore {
    #[tracing::instrument(name = "db.begin", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn begin(&self) -> Result<Box<dyn WidgetTransaction>, StoreError> {
        Ok(Box::new(PgTransaction::begin(&self.pool).await?))
    }

    #[tracing::instrument(name = "db.widgets.find", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn find(&self, id: WidgetId) -> Result<Option<Widget>, StoreError> {
        let mut conn = self.pool.session().await?;
        let row = sqlx::query_as!(
            WidgetRow,
            "SELECT id, name, created_at, updated_at FROM widgets WHERE id = $1",
            id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| self.error(e))?;
        conn.finish().await?;
        row.map(Widget::try_from).transpose()
    }

    #[tracing::instrument(name = "db.widgets.list", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn list(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<Widget>, StoreError> {
        let limit = i64::from(limit);
        let mut conn = self.pool.session().await?;
        // Two statements rather than one with `$1 IS NULL OR ...`, so each
        // gets a plan that walks the (created_at, id) index.
        let rows = match after {
            None => {
                sqlx::query_as!(
                    WidgetRow,
                    "SELECT id, name, created_at, updated_at FROM widgets
                     ORDER BY created_at, id
                     LIMIT $1",
                    limit
                )
                .fetch_all(&mut *conn)
                .await
            }
            Some(cursor) => {
                sqlx::query_as!(
                    WidgetRow,
                    "SELECT id, name, created_at, updated_at FROM widgets
                     WHERE (created_at, id) > ($1, $2)
                     ORDER BY created_at, id
                     LIMIT $3",
                    cursor.created_at,
                    cursor.id,
                    limit
                )
                .fetch_all(&mut *conn)
                .await
            }
        }
        .map_err(|e| self.error(e))?;
        conn.finish().await?;
        rows.into_iter().map(Widget::try_from).collect()
    }
}

#[async_trait]
impl WidgetTransaction for PgTransaction {
    #[tracing::instrument(name = "db.widgets.insert", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn insert(&mut self, widget: &Widget) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO widgets (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)",
            widget.id.as_uuid(),
            widget.name.as_str(),
            widget.created_at,
            widget.updated_at
        )
        .execute(self.conn())
        .await
        .map_err(|e| store_error(e, None))?;
        Ok(())
    }

    #[tracing::instrument(name = "db.widgets.find_for_update", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn find_for_update(&mut self, id: WidgetId) -> Result<Option<Widget>, StoreError> {
        sqlx::query_as!(
            WidgetRow,
            "SELECT id, name, created_at, updated_at FROM widgets
             WHERE id = $1
             FOR UPDATE",
            id.as_uuid()
        )
        .fetch_optional(self.conn())
        .await
        .map_err(|e| store_error(e, None))?
        .map(Widget::try_from)
        .transpose()
    }

    #[tracing::instrument(name = "db.widgets.update", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn update(&mut self, widget: &Widget) -> Result<(), StoreError> {
        let result = sqlx::query!(
            "UPDATE widgets SET name = $2, updated_at = $3 WHERE id = $1",
            widget.id.as_uuid(),
            widget.name.as_str(),
            widget.updated_at
        )
        .execute(self.conn())
        .await
        .map_err(|e| store_error(e, None))?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Other(anyhow::anyhow!(
                "update of widget {} touched {} rows",
                widget.id,
                result.rows_affected()
            )));
        }
        Ok(())
    }

    #[tracing::instrument(name = "db.widgets.delete", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn delete(&mut self, id: WidgetId) -> Result<bool, StoreError> {
        let result = sqlx::query!("DELETE FROM widgets WHERE id = $1", id.as_uuid())
            .execute(self.conn())
            .await
            .map_err(|e| store_error(e, None))?;
        Ok(result.rows_affected() == 1)
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commit_tx().await
    }
}
