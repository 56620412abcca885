//! `POST /api/v1/users`.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{TestApp, UsersApi as _, assert_problem, error_fields};

#[tokio::test]
async fn create_returns_201_with_location_and_normalised_fields() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/v1/users",
            &json!({ "email": "Ada.Lovelace@Example.COM", "name": "  Ada Lovelace " }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();

    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/users/{id}"));
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(body["email"], "ada.lovelace@example.com");
    assert_eq!(body["name"], "Ada Lovelace");
    let created = OffsetDateTime::parse(body["created_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let updated = OffsetDateTime::parse(body["updated_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(created, updated);

    // What came back is what was stored.
    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, body);
}

#[tokio::test]
async fn duplicate_email_is_409_case_insensitively() {
    let app = TestApp::spawn().await;
    app.create_user("grace@example.com", "Grace").await;
    let response = app
        .post_json(
            "/api/v1/users",
            &json!({ "email": "GRACE@example.com", "name": "G" }),
        )
        .await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("e-mail"),
        "{problem}"
    );
}

#[tokio::test]
async fn invalid_fields_are_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({}), vec!["email", "name"]),
        (
            json!({ "email": "not-an-email", "name": "Ada" }),
            vec!["email"],
        ),
        (
            json!({ "email": "ada@example.com", "name": "   " }),
            vec!["name"],
        ),
        (
            json!({ "email": "ada@example.com", "name": "a".repeat(101) }),
            vec!["name"],
        ),
        (
            json!({ "email": "ada@example.com", "name": "Ada\u{7}" }),
            vec!["name"],
        ),
        (
            json!({ "email": " ada@example.com", "name": "Ada" }),
            vec!["email"],
        ),
        (
            json!({ "email": null, "name": null }),
            vec!["email", "name"],
        ),
        (
            json!({ "email": format!("{}@example.com", "a".repeat(250)), "name": "" }),
            vec!["email", "name"],
        ),
        (
            json!({ "email": "ada@example.com", "name": 42 }),
            vec!["name"],
        ),
        (
            json!({ "email": "ada@example.com", "name": "Ada", "admin": true }),
            vec!["admin"],
        ),
        (json!("a string"), vec!["body"]),
    ];
    for (body, fields) in cases {
        let response = app.post_json("/api/v1/users", &body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["type"], "/problems/validation");
        assert_eq!(error_fields(&problem), fields, "for {body}: {problem}");
    }
    // Nothing was written.
    let page: Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn a_name_of_exactly_100_characters_is_accepted() {
    let app = TestApp::spawn().await;
    let name = "ü".repeat(100);
    let body = app.create_user("long@example.com", &name).await;
    assert_eq!(body["name"], name);
}

#[tokio::test]
async fn concurrent_creates_with_one_email_yield_exactly_one_201() {
    let app = TestApp::spawn().await;
    let attempts = 16;
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let client = app.client.clone();
        let url = app.url("/api/v1/users");
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "email": email, "name": format!("Racer {i}") }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, conflicts), (1, attempts - 1));
}

#[tokio::test]
async fn names_that_spoof_what_a_reader_sees_are_422() {
    let app = TestApp::spawn().await;
    let padded = format!("{} ", "a".repeat(100));
    for name in [
        "evil\u{202E}gpj.exe",
        "Ad\u{200B}a",
        "\u{2066}Ada\u{2069}",
        "\u{FEFF}Ada",
        "Ada\u{2028}King",
        "Ada\u{E0041}",
        "Ada\u{AD}",
        padded.as_str(),
        "\u{3000}\u{A0} ",
    ] {
        let response = app
            .post_json(
                "/api/v1/users",
                &json!({ "email": "spoof@example.com", "name": name }),
            )
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), ["name"], "{name:?}: {problem}");
    }
    // Other scripts, marks, emoji and inner spaces of any kind are names.
    for (i, name) in [
        "Zoë Ñúñez",
        "李小龙",
        "عمر",
        "🦀 Ferris",
        "A\u{2003}B",
        "e\u{301}",
    ]
    .into_iter()
    .enumerate()
    {
        let body = app.create_user(&format!("ok{i}@example.com"), name).await;
        assert_eq!(body["name"], name);
    }
}

#[tokio::test]
async fn e_mail_addresses_are_printable_ascii_as_sent() {
    let app = TestApp::spawn().await;
    for email in [
        "adé@example.com",
        "ada@bücher.example",
        "ada@example.com ",
        "ada@ab--c.example",
        "ada@xn--zz.example",
        "\"ada\"@example.com",
        "ada@[127.0.0.1]",
        &format!("{}@example.com", "a".repeat(65)),
    ] {
        let response = app
            .post_json("/api/v1/users", &json!({ "email": email, "name": "Ada" }))
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), ["email"], "{email:?}: {problem}");
    }
    let body = app.create_user("Ada@XN--BCHER-KVA.example", "Ada").await;
    assert_eq!(body["email"], "ada@xn--bcher-kva.example");
    let body = app.create_user("o'brien+tag@mail-1.example.org", "O").await;
    assert_eq!(body["email"], "o'brien+tag@mail-1.example.org");
}
