//! The widgets routes: `/api/v1/widgets` and `/api/v1/widgets/{id}`.

mod dto;
mod error;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use service::idempotency::StoredAnswer;
use service::widgets::{Created, NewWidget, Widget, WidgetId, WidgetPatch, WidgetService};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::dto::{CreateWidgetRequest, UpdateWidgetRequest, WidgetPage, WidgetResponse};
use crate::auth::{self, Auth, Guard, RouteScopes};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query, path_id};
use crate::idempotency::{self, IdempotencyKeyHeader};
use crate::paging::ListQuery;
use crate::responses::{AuthErrors, BodyErrors, ItemErrors, RequestErrors, ServerErrors};
use crate::state::AppState;

/// The scopes of the widgets routes: `widgets:read` to read,
/// `widgets:write` for `POST`, `PATCH` and `DELETE`. The operations'
/// `security(...)` below name the same.
pub const SCOPES: RouteScopes = RouteScopes {
    read: "widgets:read",
    write: "widgets:write",
};

/// The widgets routes, with their OpenAPI operations, behind `auth`.
pub fn router(auth: Auth) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_widget, list_widgets))
        .routes(routes!(get_widget, update_widget, delete_widget))
        .route_layer(middleware::from_fn_with_state(
            Guard::new(auth, SCOPES),
            auth::require,
        ))
}

/// The `{id}` path segment as a widget's id.
fn widget_id(raw: &str) -> Result<WidgetId, ApiError> {
    path_id(raw, "widget").map(WidgetId::from_uuid)
}

/// Create a widget.
#[utoipa::path(
    post,
    path = "/api/v1/widgets",
    tag = "widgets",
    security(("bearer" = ["widgets:write"])),
    request_body = CreateWidgetRequest,
    responses(
        (status = 201, description = "Created", body = WidgetResponse,
            headers(("Location" = String, description = "Path of the new widget"))),
        (status = 409, description = "The first request with this `Idempotency-Key` is still being processed (then with `Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        BodyErrors,
        AuthErrors,
        ServerErrors,
    ),
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retry safe: the first request with a key creates the widget; the same request again gets the same answer (with `Idempotent-Replayed: true`) for `IDEMPOTENCY_TTL`. 1 to 255 visible ASCII characters, e.g. a UUID.",
            pattern = "^[!-~]{1,255}$"),
    )
)]
async fn create_widget(
    State(widgets): State<Arc<WidgetService>>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    Json(body): Json<CreateWidgetRequest>,
) -> Result<Response, ApiError> {
    let new = NewWidget::try_from(body)?;
    let Some(key) = key else {
        let widget = widgets.create(new).await?;
        return Ok(idempotency::respond(created(&widget), false));
    };
    Ok(match widgets.create_once(new, key, created).await? {
        Created::New(widget) => idempotency::respond(created(&widget), false),
        Created::Replayed(answer) => idempotency::respond(answer, true),
    })
}

/// The `201` of a created widget, as sent and as stored with a key.
fn created(widget: &Widget) -> StoredAnswer {
    idempotency::answer(
        StatusCode::CREATED,
        Some(format!("/api/v1/widgets/{}", widget.id)),
        &WidgetResponse::from(widget.clone()),
    )
}

/// List widgets in creation order, one page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/widgets",
    tag = "widgets",
    security(("bearer" = ["widgets:read"])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of widgets", body = WidgetPage),
        RequestErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn list_widgets(
    State(widgets): State<Arc<WidgetService>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<WidgetPage>, ApiError> {
    let (cursor, limit) = query.parse()?;
    let page = widgets.list(cursor, limit).await?;
    Ok(Json(WidgetPage {
        items: page.items.into_iter().map(WidgetResponse::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

/// Get one widget.
#[utoipa::path(
    get,
    path = "/api/v1/widgets/{id}",
    tag = "widgets",
    security(("bearer" = ["widgets:read"])),
    params(("id" = uuid::Uuid, Path, description = "The widget's id: a UUID, hyphenated (8-4-4-4-12 hex digits, either case)")),
    responses(
        (status = 200, description = "The widget", body = WidgetResponse),
        ItemErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn get_widget(
    State(widgets): State<Arc<WidgetService>>,
    Path(id): Path<String>,
) -> Result<Json<WidgetResponse>, ApiError> {
    let widget = widgets.get(widget_id(&id)?).await?;
    Ok(Json(widget.into()))
}

/// Change a widget.
#[utoipa::path(
    patch,
    path = "/api/v1/widgets/{id}",
    tag = "widgets",
    security(("bearer" = ["widgets:write"])),
    params(("id" = uuid::Uuid, Path, description = "The widget's id: a UUID, hyphenated (8-4-4-4-12 hex digits, either case)")),
    request_body = UpdateWidgetRequest,
    responses(
        (status = 200, description = "The updated widget", body = WidgetResponse),
        ItemErrors,
        BodyErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn update_widget(
    State(widgets): State<Arc<WidgetService>>,
    Path(id): Path<String>,
    Json(body): Json<UpdateWidgetRequest>,
) -> Result<Json<WidgetResponse>, ApiError> {
    let id = widget_id(&id)?;
    let patch = WidgetPatch::try_from(body)?;
    let widget = widgets.update(id, patch).await?;
    Ok(Json(widget.into()))
}

/// Delete a widget.
#[utoipa::path(
    delete,
    path = "/api/v1/widgets/{id}",
    tag = "widgets",
    security(("bearer" = ["widgets:write"])),
    params(("id" = uuid::Uuid, Path, description = "The widget's id: a UUID, hyphenated (8-4-4-4-12 hex digits, either case)")),
    responses(
        (status = 204, description = "Deleted"),
        ItemErrors,
        AuthErrors,
        ServerErrors,
    )
)]
async fn delete_widget(
    State(widgets): State<Arc<WidgetService>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    widgets.delete(widget_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
