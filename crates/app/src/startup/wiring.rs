//! The composition root proper: every concrete type is built here, from
//! the settings, and injected into what needs it. No connection is made:
//! PostgreSQL and Redis are reached by the start-up task, so the probes
//! answer while they are down.

use std::sync::Arc;

use config::Settings;
use handler::admin::AdminState;
use handler::server::Server;
use handler::{AppState, CorsPolicy, HttpLimits};
use repository::cache::RedisUserCache;
use repository::database::{self, PostgresCheck};
use repository::outbox::PgOutboxStore;
use repository::redis::RedisCache;
use repository::users::PgUserStore;
use service::health::{DependencyCheck, Health};
use service::outbox::OutboxStore;
use service::users::{UserCache, UserService};
use tokio::net::TcpListener;

use super::background::{cache_guard, delivery_worker};
use super::{Application, auth};
use crate::telemetry::Telemetry;

/// The application around already bound listeners.
///
/// # Errors
/// When a URL does not parse.
pub(super) fn wire(
    settings: Settings,
    listener: TcpListener,
    admin_listener: TcpListener,
    telemetry: &Telemetry,
) -> anyhow::Result<Application> {
    let pool = database::pool(&settings.database)?;
    let mut checks: Vec<Arc<dyn DependencyCheck>> = vec![Arc::new(PostgresCheck::new(
        &settings.database,
        settings.health.timeout,
    )?)];
    let mut breakers = Vec::new();
    // The Redis connection every cache shares, its readiness check, and the
    // guard every cache call passes.
    let cache = match &settings.cache {
        None => None,
        Some(c) => {
            let redis = RedisCache::new(c)?;
            checks.push(Arc::new(redis.check()));
            let guard = Arc::new(cache_guard(c, Arc::new(redis.clone())));
            breakers.push(guard.breaker());
            Some((redis, guard))
        }
    };
    let cache_guard = cache.as_ref().map(|(_, guard)| Arc::clone(guard));
    let outbox: Arc<dyn OutboxStore> = Arc::new(PgOutboxStore::new(pool.clone()));
    let worker = settings
        .outbox
        .worker_enabled
        .then(|| delivery_worker(&settings, Arc::clone(&outbox), &pool))
        .transpose()?;
    if let Some(worker) = &worker {
        breakers.push(worker.breaker());
    }
    let health = Arc::new(
        Health::new(checks)
            .with_thresholds(
                settings.health.failure_threshold,
                settings.health.success_threshold,
            )
            .with_breakers(breakers),
    );
    // The users example: its store, its read cache and its service.
    let user_cache = cache.map(|(redis, guard)| {
        let users: Arc<dyn UserCache> = Arc::new(RedisUserCache::new(redis));
        (users, guard)
    });
    let users = Arc::new(
        UserService::new(Arc::new(PgUserStore::new(pool.clone())), user_cache)
            .with_idempotency_ttl(settings.idempotency.ttl),
    );
    let (auth, keys) = auth::wire(settings.auth.as_ref(), listener.local_addr()?)?;
    let router = handler::router(
        AppState {
            users,
            health: Arc::clone(&health),
            auth,
        },
        HttpLimits {
            request_timeout: settings.http.request_timeout,
            request_body_limit: settings.http.request_body_limit,
            max_concurrent_requests: settings.http.max_concurrent_requests,
        },
        &CorsPolicy {
            allowed_origins: settings.cors.allowed_origins.clone(),
        },
    );
    let sampled_pool = pool.clone();
    let admin_router = handler::admin_router(AdminState {
        metrics: telemetry
            .metrics
            .renderer(move || database::record_pool_metrics(&sampled_pool)),
        log_level: Arc::clone(&telemetry.log_level) as Arc<dyn handler::admin::LogLevel>,
        outbox,
        token: settings.admin.token.clone(),
    });
    let header_timeout = settings.http.header_read_timeout;
    Ok(Application {
        server: Server::new(listener, router, header_timeout),
        admin: Server::new(admin_listener, admin_router, header_timeout),
        pool,
        health,
        settings,
        metrics: telemetry.metrics.clone(),
        worker,
        cache_guard,
        keys,
    })
}
