//! The first run a newcomer sees, and how errors reach the log: the real
//! binary, with `RUST_BACKTRACE=1` set as it is on many developers'
//! machines.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{Binary, Stdout};
use crate::helpers::{TestDb, enqueue_event, redis_url};

/// A first run on a database that does not exist yet, as `make run` does
/// it (on loopback, without `AUTH_JWKS_URL`): no warning, no error, and the
/// outbox worker starts only once the database is there.
#[tokio::test]
async fn a_first_run_on_a_missing_database_logs_no_warning_or_error() {
    let redis = redis_url();
    let mut binary = Binary::start_on(
        TestDb::reserve(),
        &[
            ("DATABASE_MIGRATE_ON_START", "true"),
            ("REDIS_URL", &redis),
            ("CACHE_KEY_PREFIX", "first-run"),
            ("OUTBOX_POLL_INTERVAL", "50ms"),
            ("SHUTDOWN_DELAY", "0s"),
            ("RUST_BACKTRACE", "1"),
        ],
        Stdout::Collect,
    )
    .await;
    let id = enqueue_event(
        &binary.db,
        "thing.happened",
        json!({ "email": "first-run@example.com", "name": "Slow" }),
    )
    .await
    .to_string();
    // Without WEBHOOK_URL the event goes to the log: its id and type only,
    // never its data (which may be personal).
    let delivered = binary
        .until_event("event delivered to the log (WEBHOOK_URL is unset)", |_| {
            true
        })
        .await;
    assert_eq!(delivered["event_type"], "thing.happened", "{delivered}");
    binary.until_event("outbox event delivered", |_| true).await;
    let raw = binary.lines().join("\n");
    assert!(raw.contains(&id), "the event id is not logged anywhere");
    assert!(
        !raw.contains("first-run@example.com") && !raw.contains("Slow"),
        "personal data reached the log:\n{raw}"
    );
    binary.signal("TERM");
    assert!(binary.exit(Duration::from_secs(10)).await.success());

    let lines: Vec<Value> = binary
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let open_api = |l: &Value| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("AUTH_JWKS_URL is unset"))
    };
    // On loopback the open API is said once, at info.
    let said: Vec<&Value> = lines.iter().filter(|l| open_api(l)).collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert_eq!(said[0]["level"], "INFO");
    let loud: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect();
    assert!(
        loud.is_empty(),
        "warnings or errors on a first run: {loud:#?}"
    );
    let position = |message: &str| {
        lines
            .iter()
            .position(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` line in {lines:#?}"))
    };
    assert!(
        position("database created")
            < position("start-up complete: database reached, migrations verified, listeners bound"),
    );
    assert!(
        position("start-up complete: database reached, migrations verified, listeners bound")
            < position("the outbox worker started"),
        "the worker started before start-up finished"
    );
}

/// An error is logged as its cause chain on one line, never with a
/// backtrace, whatever `RUST_BACKTRACE` says.
#[tokio::test]
async fn errors_are_logged_as_a_one_line_cause_chain_without_a_backtrace() {
    let binary = Binary::start(
        &[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")],
        Stdout::Collect,
    )
    .await;
    // Break the schema behind the service's back: listing events fails.
    let pool = binary.db.pool().await;
    sqlx::query("ALTER TABLE outbox_events RENAME TO outbox_events_gone")
        .execute(&pool)
        .await
        .unwrap();
    let response = binary
        .client
        .get(binary.admin_url("/admin/outbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let line = binary.until_event("request failed", |_| true).await;
    assert_eq!(line["level"], "ERROR");
    let error = line["error"].as_str().unwrap_or_else(|| panic!("{line}"));
    assert!(
        error.contains(": ") && error.contains(r#"relation "outbox_events" does not exist"#),
        "not the cause chain: {error}"
    );
    assert!(!error.contains('\n'), "more than one line: {error}");
    assert!(
        !error.contains("backtrace") && !error.contains("Caused by"),
        "not the one-line form: {error}"
    );
    let raw = binary.lines().join("\n");
    assert!(
        !raw.contains("Stack backtrace"),
        "a backtrace reached the log"
    );
}

/// An admin listener off loopback without a token would let anyone who
/// reaches the port change the log level and re-drive events: start-up
/// refuses it, naming the variable.
#[tokio::test]
async fn an_admin_listener_off_loopback_without_a_token_is_refused() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("ADMIN_ADDR", "0.0.0.0:0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ADMIN_ADDR") && stderr.contains("set ADMIN_TOKEN"),
        "{stderr}"
    );
}
