//! The outbox without any resource: events written through the
//! repository's own insert in a transaction of their own, and the outbox
//! table locked for a slow admin request on demand.

use serde_json::Value;
use service::outbox::{EventType, NewEvent, OutboxWriter as _};
use uuid::Uuid;

use super::database::TestDb;

/// Writes one event of `event_type` (e.g. `thing.happened`) with `data`
/// (a JSON object) and returns its id.
pub async fn enqueue_event(db: &TestDb, event_type: &str, data: Value) -> Uuid {
    enqueue_events(db, &[(event_type, data)]).await[0]
}

/// Writes `events` in one transaction, as a resource's write would, and
/// returns their ids in order. Each event's aggregate is a new id.
pub async fn enqueue_events(db: &TestDb, events: &[(&str, Value)]) -> Vec<Uuid> {
    let settings = config::Settings::from_vars([("DATABASE_URL", db.url(None))]).unwrap();
    let pool = repository::database::pool(&settings.database).unwrap();
    let mut tx = repository::transaction::PgTransaction::begin(&pool)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (event_type, data) in events {
        let Value::Object(payload) = data.clone() else {
            panic!("an event's data is a JSON object, not {data}");
        };
        let event = NewEvent::new(
            EventType::parse(event_type).unwrap(),
            Uuid::now_v7(),
            payload,
            time::OffsetDateTime::now_utc(),
        );
        tx.enqueue(&event).await.unwrap();
        ids.push(event.id.as_uuid());
    }
    tx.commit_tx().await.unwrap();
    pool.close().await;
    ids
}

/// Locks the outbox table in a transaction of the test's own, so that
/// every admin outbox request waits on it: a slow, database-bound request
/// on demand. Rolled back when dropped.
pub async fn lock_outbox(db: &TestDb) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = db.pool().await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE outbox_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}
