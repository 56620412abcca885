//! `GET /openapi.json` describes every users route, status and problem
//! body, and the rules its members state.

use reqwest::StatusCode;
use serde_json::{Value, json};

use service::users::{Email, UserName};

use crate::helpers::TestApp;

#[tokio::test]
async fn the_document_lists_every_operation_and_status() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let expected: &[(&str, &str, &[&str])] = &[
        (
            "/api/v1/users",
            "post",
            &[
                "201", "400", "409", "413", "415", "422", "500", "503", "504",
            ],
        ),
        ("/api/v1/users", "get", &["200", "400", "500", "503", "504"]),
        (
            "/api/v1/users/{id}",
            "get",
            &["200", "400", "404", "500", "503", "504"],
        ),
        (
            "/api/v1/users/{id}",
            "patch",
            &[
                "200", "400", "404", "409", "413", "415", "422", "500", "503",
            ],
        ),
        (
            "/api/v1/users/{id}",
            "delete",
            &["204", "400", "404", "500", "503", "504"],
        ),
    ];
    for (path, method, statuses) in expected {
        let responses = &doc["paths"][path][method]["responses"];
        assert!(responses.is_object(), "{method} {path} is missing");
        for status in *statuses {
            let response = &responses[status];
            assert!(response.is_object(), "{method} {path} lacks {status}");
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "request_id", "errors"] {
        assert!(problem[member].is_object(), "Problem lacks {member}");
    }
    let create = &doc["components"]["schemas"]["CreateUserRequest"]["required"];
    assert_eq!(create, &serde_json::json!(["email", "name"]));
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_list_parameters_state_their_rules() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let parameters = doc["paths"]["/api/v1/users"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let schema = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap()
    };
    let limit = schema("limit");
    assert_eq!(limit["type"], "integer");
    assert_eq!(
        (&limit["minimum"], &limit["maximum"]),
        (&json!(1), &json!(100))
    );
    let cursor = schema("cursor");
    assert_eq!(cursor["type"], "string");
    assert_eq!(cursor["pattern"], "^[A-Za-z0-9_-]{32}$");
    // What the list returns is what it takes back.
    let page = &doc["components"]["schemas"]["UserPage"];
    assert_eq!(page["required"], json!(["items", "next_cursor"]));
    let next = &page["properties"]["next_cursor"];
    assert_eq!(next["type"], json!(["string", "null"]));
    assert_eq!(next["pattern"], cursor["pattern"]);
}

#[tokio::test]
async fn the_bodies_state_their_members() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateUserRequest"];
    assert_eq!(create["required"], json!(["email", "name"]));
    let update = &schemas["UpdateUserRequest"];
    assert!(update.get("required").is_none(), "{update}");
    assert_eq!(update["minProperties"], 1);
    for body in [create, update] {
        // Unknown members are refused, and no member may be null.
        assert_eq!(body["additionalProperties"], false, "{body}");
        for member in ["email", "name"] {
            assert_eq!(body["properties"][member]["type"], "string", "{body}");
        }
    }
}

#[tokio::test]
async fn the_members_state_the_rules_the_service_checks() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    for body in ["CreateUserRequest", "UpdateUserRequest"] {
        let name = &schemas[body]["properties"]["name"];
        assert_eq!(name["pattern"], UserName::pattern(), "{body}");
        assert_eq!(
            (&name["minLength"], &name["maxLength"]),
            (&json!(1), &json!(100))
        );
        let email = &schemas[body]["properties"]["email"];
        assert_eq!(email["pattern"], Email::PATTERN, "{body}");
        assert_eq!(email["format"], "email");
        assert_eq!(email["maxLength"], 254);
    }
}
