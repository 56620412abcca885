//! [`PgUserStore`]: the users table behind `service::users::UserStore`.

use async_trait::async_trait;
use service::page::Cursor;
use service::store::StoreError;
use service::users::{Email, User, UserId, UserName, UserStore, UserTransaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::database::{Pool, store_error};
use crate::transaction::PgTransaction;

/// The users table.
#[derive(Debug, Clone)]
pub struct PgUserStore {
    pool: Pool,
}

impl PgUserStore {
    /// A store over `pool`.
    pub const fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn error(&self, err: sqlx::Error) -> StoreError {
        store_error(err, Some(self.pool.connections()))
    }
}

/// A row as stored.
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    /// Stored values are re-validated: a row written around the service
    /// (by hand, by an old release) surfaces as an error, not as a user that
    /// breaks the domain's rules.
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let invalid = |what: &str| {
            StoreError::Other(anyhow::anyhow!(
                "user {} has an invalid {what} in the database",
                row.id
            ))
        };
        Ok(Self {
            id: UserId::from_uuid(row.id),
            email: Email::parse(&row.email).map_err(|_| invalid("email"))?,
            name: UserName::parse(&row.name).map_err(|_| invalid("name"))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[async_trait]
impl UserStore for PgUserStore {
    #[tracing::instrument(name = "db.begin", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn begin(&self) -> Result<Box<dyn UserTransaction>, StoreError> {
        Ok(Box::new(PgTransaction::begin(&self.pool).await?))
    }

    #[tracing::instrument(name = "db.users.find", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut conn = self.pool.session().await?;
        let row = sqlx::query_as!(
            UserRow,
            "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1",
            id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| self.error(e))?;
        conn.finish().await?;
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(name = "db.users.list", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn list(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<User>, StoreError> {
        let limit = i64::from(limit);
        let mut conn = self.pool.session().await?;
        // Two statements rather than one with `$1 IS NULL OR ...`, so each
        // gets a plan that walks the (created_at, id) index.
        let rows = match after {
            None => {
                sqlx::query_as!(
                    UserRow,
                    "SELECT id, email, name, created_at, updated_at FROM users
                     ORDER BY created_at, id
                     LIMIT $1",
                    limit
                )
                .fetch_all(&mut *conn)
                .await
            }
            Some(cursor) => {
                sqlx::query_as!(
                    UserRow,
                    "SELECT id, email, name, created_at, updated_at FROM users
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
        rows.into_iter().map(User::try_from).collect()
    }
}

#[async_trait]
impl UserTransaction for PgTransaction {
    #[tracing::instrument(name = "db.users.insert", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn insert(&mut self, user: &User) -> Result<(), StoreError> {
        sqlx::query!(
            "INSERT INTO users (id, email, name, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5)",
            user.id.as_uuid(),
            user.email.as_str(),
            user.name.as_str(),
            user.created_at,
            user.updated_at
        )
        .execute(self.conn())
        .await
        .map_err(|e| store_error(e, None))?;
        Ok(())
    }

    #[tracing::instrument(name = "db.users.find_for_update", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn find_for_update(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query_as!(
            UserRow,
            "SELECT id, email, name, created_at, updated_at FROM users
             WHERE id = $1
             FOR UPDATE",
            id.as_uuid()
        )
        .fetch_optional(self.conn())
        .await
        .map_err(|e| store_error(e, None))?
        .map(User::try_from)
        .transpose()
    }

    #[tracing::instrument(name = "db.users.update", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn update(&mut self, user: &User) -> Result<(), StoreError> {
        let result = sqlx::query!(
            "UPDATE users SET email = $2, name = $3, updated_at = $4 WHERE id = $1",
            user.id.as_uuid(),
            user.email.as_str(),
            user.name.as_str(),
            user.updated_at
        )
        .execute(self.conn())
        .await
        .map_err(|e| store_error(e, None))?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Other(anyhow::anyhow!(
                "update of user {} touched {} rows",
                user.id,
                result.rows_affected()
            )));
        }
        Ok(())
    }

    #[tracing::instrument(name = "db.users.delete", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn delete(&mut self, id: UserId) -> Result<bool, StoreError> {
        let result = sqlx::query!("DELETE FROM users WHERE id = $1", id.as_uuid())
            .execute(self.conn())
            .await
            .map_err(|e| store_error(e, None))?;
        Ok(result.rows_affected() == 1)
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commit_tx().await
    }
}
