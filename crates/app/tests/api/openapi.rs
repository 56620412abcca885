//! `GET /openapi.json` is an OpenAPI 3.1 document with the shared problem
//! schema and the bearer scheme, whatever resources the service has.

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_document_is_openapi_3_1_with_the_problem_schema() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string(), "{}", doc["info"]);
    assert!(doc["paths"].is_object(), "no paths object");
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "request_id", "errors"] {
        assert!(problem[member].is_object(), "Problem lacks {member}");
    }
    assert!(
        doc["components"]["schemas"]["FieldError"].is_object(),
        "FieldError missing"
    );
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http", "{bearer}");
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");
}
