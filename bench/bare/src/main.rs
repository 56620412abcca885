//! The baselines `make bench` compares the service against: axum doing what
//! one of the service's routes does and nothing else (no middleware, no
//! logs, no metrics, no traces), and an OTLP/HTTP receiver for the run with
//! trace export on.
//!
//! - `bench-bare serve`: listens on `BARE_ADDR` (default `127.0.0.1:8081`)
//!   with `GET /healthz`.
//! - `bench-bare collector`: the receiver on `BARE_ADDR` ([`collector`]).
//! - `bench-bare drop-database URL NAME`: drops the bench's database, so
//!   every run starts from an empty one.
//!
//! The example's baselines are in [`users`].

mod collector;
mod users;

use axum::Json;
use axum::routing::get;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = std::env::var("BARE_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => serve(&addr).await,
        ["collector"] => collector::serve(&addr).await,
        ["drop-database", url, name] => drop_database(url, name).await,
        _ => Err("unknown command: see bench/bare/src/main.rs".into()),
    }
}

async fn serve(addr: &str) -> Result<(), Failure> {
    let app = axum::Router::new().route("/healthz", get(|| async { Json(status()) }));
    let app = app.merge(users::routes().await?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// The same body as the service's liveness probe.
fn status() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([("status", "ok")])
}

async fn drop_database(url: &str, name: &str) -> Result<(), Failure> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    Ok(())
}
