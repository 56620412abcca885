//! The widgets API over HTTP: its operations, their errors, and the events
//! each change writes to the outbox.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, error_fields};

const WIDGETS: &str = "/api/v1/widgets";

/// Creates a widget named `name` and returns its body.
async fn create(app: &TestApp, name: &str) -> Value {
    let response = app.post_json(WIDGETS, &json!({ "name": name })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// The event types the outbox holds for `id`, oldest first.
async fn events_of(app: &TestApp, id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM outbox_events WHERE aggregate_id = $1::uuid ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(&app.db.pool().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn create_read_rename_and_delete() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(WIDGETS, &json!({ "name": "  Blue widget " }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("{WIDGETS}/{id}"));
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(created["name"], "Blue widget");
    assert_eq!(created["created_at"], created["updated_at"]);

    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, created);

    let response = app
        .patch_json(&location, &json!({ "name": "Red widget" }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["name"], "Red widget");
    assert_eq!(renamed["created_at"], created["created_at"]);
    assert_ne!(renamed["updated_at"], created["updated_at"]);
    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, renamed);

    assert_eq!(app.delete(&location).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&location).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.delete(&location).await, StatusCode::NOT_FOUND).await;

    assert_eq!(
        events_of(&app, &id).await,
        ["widget.created", "widget.updated", "widget.deleted"]
    );
}

#[tokio::test]
async fn a_rename_to_the_same_name_writes_nothing() {
    let app = TestApp::spawn().await;
    let widget = create(&app, "Same").await;
    let path = format!("{WIDGETS}/{}", widget["id"].as_str().unwrap());
    let response = app.patch_json(&path, &json!({ "name": " Same " })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let unchanged: Value = response.json().await.unwrap();
    assert_eq!(unchanged, widget);
    assert_eq!(
        events_of(&app, widget["id"].as_str().unwrap()).await,
        ["widget.created"]
    );
}

#[tokio::test]
async fn the_list_pages_in_creation_order() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for name in ["One", "Two", "Three"] {
        ids.push(create(&app, name).await["id"].clone());
    }
    let first: Value = app
        .get(&format!("{WIDGETS}?limit=2"))
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    assert_eq!(page, ids[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("{WIDGETS}?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["id"], ids[2]);
    assert_eq!(second["next_cursor"], Value::Null);

    let problem = assert_problem(
        app.get(&format!("{WIDGETS}?limit=0&cursor=nope")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error_fields(&problem), ["limit", "cursor"]);
}

#[tokio::test]
async fn bad_input_is_a_problem_naming_the_field() {
    let app = TestApp::spawn().await;
    let problem = assert_problem(
        app.post_json(WIDGETS, &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["name"]);
    let problem = assert_problem(
        app.post_json(WIDGETS, &json!({ "name": "a\u{202E}b" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["name"]);

    let widget = create(&app, "Kept").await;
    let path = format!("{WIDGETS}/{}", widget["id"].as_str().unwrap());
    let problem = assert_problem(
        app.patch_json(&path, &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["body"]);

    let problem = assert_problem(
        app.get(&format!("{WIDGETS}/not-an-id")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error_fields(&problem), ["id"]);
    let unknown = format!("{WIDGETS}/{}", uuid::Uuid::now_v7());
    assert_problem(app.get(&unknown).await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.patch_json(&unknown, &json!({ "name": "X" })).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_create_with_an_idempotency_key_happens_once() {
    let app = TestApp::spawn().await;
    let send = |name: &'static str| {
        app.client
            .post(app.url(WIDGETS))
            .header("Idempotency-Key", "create-once")
            .json(&json!({ "name": name }))
            .send()
    };
    let first = send("Once").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("Once").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let list: Value = app.get(WIDGETS).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let other = send("Another").await.unwrap();
    assert_problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn the_document_describes_every_operation() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = &spec["paths"];
    for (path, methods) in [
        (WIDGETS.to_owned(), ["get", "post"].as_slice()),
        (
            format!("{WIDGETS}/{{id}}"),
            ["get", "patch", "delete"].as_slice(),
        ),
    ] {
        for method in methods {
            let operation = &paths[&path][method];
            assert_eq!(operation["tags"], json!(["widgets"]), "{method} {path}");
        }
    }
}
