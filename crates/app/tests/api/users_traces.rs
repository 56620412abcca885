//! The users example in exported traces: a read's server span is named
//! by its route template and has the users table's database span beneath
//! it, and a creation's span carries its `201`. Tracing itself is covered
//! without the example in `traces.rs`.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::StatusCode;

use crate::helpers::UsersBinary as _;
use crate::traces::exported::{hex, int_attr, str_attr};
use crate::traces::http::{start_receiver, traced};

#[tokio::test]
async fn a_users_read_has_its_database_span_beneath_its_server_span() {
    let (exports, base) = start_receiver().await;
    let binary = traced(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str())]).await;
    let id = binary.create_user("traced@example.com").await;
    let trace_id = "6af7651916cd43dd8448eb211c80319c";
    let response = binary
        .client
        .get(binary.url(&format!("/api/v1/users/{id}")))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let server = exports
        .until_span("GET /api/v1/users/{id}", Some(trace_id))
        .await;
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    assert_eq!(
        str_attr(&server.span.attributes, "http.route"),
        Some("/api/v1/users/{id}")
    );
    let find = exports.until_span("db.users.find", Some(trace_id)).await;
    assert_eq!(
        hex(&find.span.parent_span_id),
        hex(&server.span.span_id),
        "the database span is not the request's child"
    );

    let created = exports.until_span("POST /api/v1/users", None).await;
    assert_eq!(
        int_attr(&created.span.attributes, "http.response.status_code"),
        Some(201)
    );
    assert_eq!(
        str_attr(&created.span.attributes, "http.route"),
        Some("/api/v1/users")
    );
}
